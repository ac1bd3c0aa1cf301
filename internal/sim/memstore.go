package sim

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
)

// errUnreachable is what a partitioned member's store calls return.
var errUnreachable = errors.New("store unreachable")

// memStore is the in-package model of the consensus store: the dcs.Store semantics the
// agents rely on (leader key on a lease, create-if-absent, refresh confirms ownership,
// member keys on the same lease) with leases expiring by the simulator's clock.
type memStore struct {
	now       func() time.Time
	rev       int64
	nextLease int64
	leases    map[int64]time.Time
	reachable map[string]bool

	initialize *string
	config     []byte
	configRev  int64
	leader     *cluster.Leader
	members    map[string]memMember
	status     []byte
	history    []byte
	failover   []byte
	failoverRv int64
	sync       []byte
	syncRev    int64
	failsafe   []byte

	clients []*memClient
}

type memMember struct {
	value []byte
	lease int64
	rev   int64
}

func newMemStore(now func() time.Time) *memStore {
	return &memStore{now: now, leases: map[int64]time.Time{}, reachable: map[string]bool{}, members: map[string]memMember{}}
}

// Client returns member's view of the store; every call fails while the member is
// unreachable.
func (s *memStore) Client(member string, opts dcs.Options) dcs.Store {
	s.reachable[member] = true
	c := &memClient{s: s, opts: opts, member: member, ttl: opts.TTL, changes: make(chan struct{}, 1)}
	s.clients = append(s.clients, c)
	return c
}

func (s *memStore) SetReachable(member string, ok bool) { s.reachable[member] = ok }

// Expire drops every lease whose deadline has passed, with the keys attached to it.
func (s *memStore) Expire() {
	now := s.now()
	for id, deadline := range s.leases {
		if now.Before(deadline) {
			continue
		}
		delete(s.leases, id)
		if s.leader != nil && s.leader.Lease == id {
			s.leader = nil
			s.bump(true)
		}
		for name, m := range s.members {
			if m.lease == id {
				delete(s.members, name)
				s.bump(false)
			}
		}
	}
}

func (s *memStore) bump(notify bool) {
	s.rev++
	if !notify {
		return
	}
	for _, c := range s.clients {
		select {
		case c.changes <- struct{}{}:
		default:
		}
	}
}

type memClient struct {
	s       *memStore
	opts    dcs.Options
	member  string
	ttl     time.Duration
	lease   int64
	changes chan struct{}
	closed  bool
}

func (c *memClient) check() error {
	c.s.Expire()
	if c.closed || !c.s.reachable[c.member] {
		return errUnreachable
	}
	return nil
}

// keepAlive renews the client's lease, granting a new one when it is gone.
func (c *memClient) keepAlive() {
	if _, ok := c.s.leases[c.lease]; !ok {
		c.s.nextLease++
		c.lease = c.s.nextLease
	}
	c.s.leases[c.lease] = c.s.now().Add(c.ttl)
}

func (c *memClient) Load(context.Context) (*cluster.Cluster, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	s := c.s
	cl := &cluster.Cluster{Initialize: s.initialize, ConfigRevision: s.configRev, Revision: s.rev}
	if s.initialize != nil {
		v := *s.initialize
		cl.Initialize = &v
	}
	if s.config != nil {
		cl.Config, _ = cluster.DecodeConfig(s.config)
	}
	if s.leader != nil {
		l := *s.leader
		cl.Leader = &l
	}
	names := make([]string, 0, len(s.members))
	for n := range s.members {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m := cluster.DecodeMember(n, s.members[n].value)
		m.Revision = s.members[n].rev
		cl.Members = append(cl.Members, m)
	}
	if s.status != nil {
		cl.Status = cluster.DecodeStatus(s.status)
	}
	if s.history != nil {
		cl.History, cl.HasHistory = cluster.DecodeHistory(s.history), true
	}
	if s.failover != nil {
		cl.Failover = cluster.DecodeFailover(s.failover)
	}
	if s.sync != nil {
		cl.Sync = cluster.DecodeSync(s.sync)
	}
	return cl, nil
}

func (c *memClient) Changes() <-chan struct{} { return c.changes }

func (c *memClient) TouchMember(_ context.Context, value []byte) error {
	if err := c.check(); err != nil {
		return err
	}
	c.keepAlive()
	c.s.bump(false)
	c.s.members[c.member] = memMember{value: append([]byte(nil), value...), lease: c.lease, rev: c.s.rev}
	return nil
}

func (c *memClient) AcquireLeader(context.Context) (bool, error) {
	if err := c.check(); err != nil {
		return false, err
	}
	if c.s.leader != nil {
		return false, nil
	}
	c.keepAlive()
	c.s.bump(true)
	c.s.leader = &cluster.Leader{Name: c.member, Revision: c.s.rev, CreateRevision: c.s.rev, Lease: c.lease}
	return true, nil
}

func (c *memClient) RefreshLeader(context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	if _, ok := c.s.leases[c.lease]; !ok || c.s.leader == nil || c.s.leader.Name != c.member || c.s.leader.Lease != c.lease {
		return dcs.ErrLockLost
	}
	c.keepAlive()
	return nil
}

func (c *memClient) ReleaseLeader(context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	if c.s.leader != nil && c.s.leader.Name == c.member {
		c.s.leader = nil
		c.s.bump(true)
	}
	return nil
}

func (c *memClient) Initialize(_ context.Context, create bool, sysid string) (bool, error) {
	if err := c.check(); err != nil {
		return false, err
	}
	if create && c.s.initialize != nil {
		return false, nil
	}
	v := sysid
	c.s.initialize = &v
	c.s.bump(false)
	return true, nil
}

func (c *memClient) CancelInitialize(context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	c.s.initialize = nil
	c.s.bump(false)
	return nil
}

// casPut applies the revision rules shared by config, failover and sync.
func (c *memClient) casPut(key *[]byte, keyRev *int64, value []byte, revision int64) bool {
	switch {
	case revision == 0 && *key != nil:
		return false
	case revision > 0 && (*key == nil || *keyRev != revision):
		return false
	}
	c.s.bump(true)
	*key, *keyRev = append([]byte(nil), value...), c.s.rev
	return true
}

func (c *memClient) SetConfig(_ context.Context, value []byte, revision int64) (bool, error) {
	if err := c.check(); err != nil {
		return false, err
	}
	return c.casPut(&c.s.config, &c.s.configRev, value, revision), nil
}

func (c *memClient) SetFailover(_ context.Context, value []byte, revision int64) (bool, error) {
	if err := c.check(); err != nil {
		return false, err
	}
	return c.casPut(&c.s.failover, &c.s.failoverRv, value, revision), nil
}

func (c *memClient) SetSync(_ context.Context, value []byte, revision int64) (bool, error) {
	if err := c.check(); err != nil {
		return false, err
	}
	return c.casPut(&c.s.sync, &c.s.syncRev, value, revision), nil
}

func (c *memClient) DeleteSync(_ context.Context, revision int64) error {
	if err := c.check(); err != nil {
		return err
	}
	if revision <= 0 || c.s.syncRev == revision {
		c.s.sync, c.s.syncRev = nil, 0
		c.s.bump(false)
	}
	return nil
}

func (c *memClient) put(key *[]byte, value []byte, notify bool) error {
	if err := c.check(); err != nil {
		return err
	}
	*key = append([]byte(nil), value...)
	c.s.bump(notify)
	return nil
}

func (c *memClient) SetStatus(_ context.Context, value []byte) error {
	return c.put(&c.s.status, value, true)
}

func (c *memClient) SetHistory(_ context.Context, value []byte) error {
	return c.put(&c.s.history, value, false)
}

func (c *memClient) SetFailsafe(_ context.Context, value []byte) error {
	return c.put(&c.s.failsafe, value, false)
}

func (c *memClient) DeleteCluster(context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	s := c.s
	s.initialize, s.config, s.leader, s.status, s.history, s.failover, s.sync, s.failsafe = nil, nil, nil, nil, nil, nil, nil, nil
	s.members = map[string]memMember{}
	s.bump(true)
	return nil
}

func (c *memClient) SetTTL(ttl time.Duration) { c.ttl = ttl }

func (c *memClient) Close() error {
	c.closed = true
	return nil
}
