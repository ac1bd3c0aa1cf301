// Package dcstest is an in-memory dcs.Store for the deterministic simulator, driven by an
// explicit clock, and the conformance suite that holds it and the etcd store to the same
// behaviour.
package dcstest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/warden-ha/warden/internal/dcs"
)

// ErrUnreachable is what an unreachable client's calls wrap. It is deliberately not a
// dcs sentinel: to the agent it means "store unreachable".
var ErrUnreachable = errors.New("dcstest: store unreachable")

type entry struct {
	value       []byte
	create, mod int64
	lease       int64
}

type lease struct {
	ttl      time.Duration
	deadline time.Time
}

type watcher struct {
	prefix string
	member string
	ch     chan struct{}
}

// Backend is the shared state of one fake store: keys with etcd-like revisions and
// leases whose expiry is computed from the clock passed in. It starts no goroutines and
// never reads the wall clock. The mutex only makes it safe for tests that use several
// goroutines; the simulator drives it from one.
type Backend struct {
	now func() time.Time

	mu          sync.Mutex
	rev         int64
	kv          map[string]*entry
	leases      map[int64]*lease
	nextLease   int64
	unreachable map[string]bool
	watchers    []*watcher
}

// NewBackend returns an empty store at revision 1 (as a fresh etcd reports).
func NewBackend(now func() time.Time) *Backend {
	return &Backend{
		now: now, rev: 1, kv: map[string]*entry{}, leases: map[int64]*lease{},
		unreachable: map[string]bool{},
	}
}

// SetReachable cuts (false) or restores (true) one member's access to the store.
func (b *Backend) SetReachable(member string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		delete(b.unreachable, member)
	} else {
		b.unreachable[member] = true
	}
}

// Expire drops every lease whose deadline has passed, with its keys. Every client call
// does this too, so a caller that forgets still sees expired keys gone.
func (b *Backend) Expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireLocked()
}

// Revision is the current store revision.
func (b *Backend) Revision() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rev
}

// Put writes a raw key without a lease, for tests that plant garbage or legacy keys.
func (b *Backend) Put(key string, value []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rev++
	_, existed := b.kv[key]
	b.putLocked(key, value, 0)
	b.notifyLocked([]string{key}, !existed)
}

// Get returns a raw key's value.
func (b *Backend) Get(key string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireLocked()
	e, ok := b.kv[key]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), e.value...), true
}

func (b *Backend) expireLocked() {
	now := b.now()
	var ids []int64
	for id, l := range b.leases {
		if !now.Before(l.deadline) {
			ids = append(ids, id)
		}
	}
	// Deterministic order keeps revisions reproducible across runs.
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		delete(b.leases, id)
		var gone []string
		for k, e := range b.kv {
			if e.lease == id {
				gone = append(gone, k)
			}
		}
		if len(gone) == 0 {
			continue
		}
		// etcd revokes a lease and deletes its keys in one revision.
		b.rev++
		for _, k := range gone {
			delete(b.kv, k)
		}
		b.notifyLocked(gone, true)
	}
}

// putLocked needs the caller to have bumped b.rev for this write.
func (b *Backend) putLocked(key string, value []byte, leaseID int64) {
	e, ok := b.kv[key]
	if !ok {
		e = &entry{create: b.rev}
		b.kv[key] = e
	}
	e.value, e.mod, e.lease = append([]byte(nil), value...), b.rev, leaseID
}

func (b *Backend) grantLocked(ttl time.Duration) int64 {
	b.nextLease++
	// etcd grants whole seconds.
	secs := (ttl + time.Second - 1) / time.Second * time.Second
	b.leases[b.nextLease] = &lease{ttl: secs, deadline: b.now().Add(secs)}
	return b.nextLease
}

func (b *Backend) keepAliveLocked(id int64) bool {
	l, ok := b.leases[id]
	if !ok {
		return false
	}
	l.deadline = b.now().Add(l.ttl)
	return true
}

// notifyLocked wakes the watchers; membership: the keys were created or deleted.
func (b *Backend) notifyLocked(keys []string, membership bool) {
	for _, w := range b.watchers {
		if b.unreachable[w.member] {
			continue
		}
		for _, k := range keys {
			if rel, ok := strings.CutPrefix(k, w.prefix); ok && wakes(rel, membership) {
				select {
				case w.ch <- struct{}{}:
				default:
				}
				break
			}
		}
	}
}

// call opens one client operation: expire lazily, then refuse if the member is cut off.
func (b *Backend) call(member, op string) error {
	b.expireLocked()
	if b.unreachable[member] {
		return fmt.Errorf("dcstest %s: %w", op, ErrUnreachable)
	}
	return nil
}

// Client returns member's store. opts.Member names the leader value; member names the
// network endpoint used by SetReachable (normally the same).
func (b *Backend) Client(member string, opts dcs.Options) dcs.Store {
	if opts.Member == "" {
		opts.Member = member
	}
	return &client{b: b, endpoint: member, opts: opts, ttl: opts.TTL, changes: make(chan struct{}, 1)}
}
