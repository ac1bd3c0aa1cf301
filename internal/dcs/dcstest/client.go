package dcstest

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/etcd3/layout"
)

func wakes(rel string, membership bool) bool { return layout.Wakes(rel, membership) }

// client mirrors the etcd3 store's lease handling: one lease, keep-alives only from
// TouchMember and RefreshLeader, member writes only when the value or lease changed.
type client struct {
	b        *Backend
	endpoint string
	opts     dcs.Options
	changes  chan struct{}

	ttl        time.Duration
	lease      int64
	leaseTTL   time.Duration
	lastMember []byte
	lastLease  int64
	watching   bool
	closed     bool
}

func (c *client) key(rel string) string { return c.opts.Prefix + rel }

// begin locks the backend for one operation; the fake answers instantly, so ctx only
// matters when it is already done.
func (c *client) begin(ctx context.Context, op string) error {
	c.b.mu.Lock()
	if err := ctx.Err(); err != nil {
		c.b.mu.Unlock()
		return fmt.Errorf("dcstest %s: %w", op, err)
	}
	if err := c.b.call(c.endpoint, op); err != nil {
		c.b.mu.Unlock()
		return err
	}
	return nil
}

func (c *client) end() { c.b.mu.Unlock() }

func (c *client) Load(ctx context.Context) (*cluster.Cluster, error) {
	if err := c.begin(ctx, "load"); err != nil {
		return nil, err
	}
	defer c.end()
	var kvs []layout.KV
	for k, e := range c.b.kv {
		if rel, ok := strings.CutPrefix(k, c.opts.Prefix); ok {
			kvs = append(kvs, layout.KV{Key: rel, Value: append([]byte(nil), e.value...),
				CreateRevision: e.create, ModRevision: e.mod, Lease: e.lease})
		}
	}
	// etcd returns a range sorted by key; keep member order identical.
	sortKVs(kvs)
	if !c.watching && !c.closed {
		c.watching = true
		c.b.watchers = append(c.b.watchers, &watcher{prefix: c.opts.Prefix, member: c.endpoint, ch: c.changes})
	}
	return layout.Decode(kvs, c.b.rev), nil
}

func (c *client) Changes() <-chan struct{} { return c.changes }

func (c *client) SetTTL(ttl time.Duration) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.ttl = ttl
}

// liveLease needs b.mu.
func (c *client) liveLease() {
	if c.lease != 0 && c.leaseTTL == c.ttl && c.b.keepAliveLocked(c.lease) {
		return
	}
	c.lease, c.leaseTTL = c.b.grantLocked(c.ttl), c.ttl
}

func (c *client) TouchMember(ctx context.Context, value []byte) error {
	if err := c.begin(ctx, "touch member"); err != nil {
		return err
	}
	defer c.end()
	c.liveLease()
	if c.lastLease == c.lease && bytes.Equal(c.lastMember, value) {
		return nil
	}
	k := c.key(layout.MembersDir + c.opts.Member)
	_, existed := c.b.kv[k]
	c.b.rev++
	c.b.putLocked(k, value, c.lease)
	c.b.notifyLocked([]string{k}, !existed)
	c.lastMember, c.lastLease = append([]byte(nil), value...), c.lease
	return nil
}

func (c *client) AcquireLeader(ctx context.Context) (bool, error) {
	if err := c.begin(ctx, "acquire leader"); err != nil {
		return false, err
	}
	defer c.end()
	if _, ok := c.b.leases[c.lease]; !ok || c.leaseTTL != c.ttl {
		c.lease, c.leaseTTL = c.b.grantLocked(c.ttl), c.ttl
	}
	k := c.key(layout.Leader)
	if _, held := c.b.kv[k]; held {
		return false, nil
	}
	c.b.rev++
	c.b.putLocked(k, []byte(c.opts.Member), c.lease)
	c.b.notifyLocked([]string{k}, false)
	return true, nil
}

func (c *client) RefreshLeader(ctx context.Context) error {
	if err := c.begin(ctx, "refresh leader"); err != nil {
		return err
	}
	defer c.end()
	c.liveLease()
	k := c.key(layout.Leader)
	e, ok := c.b.kv[k]
	if !ok || string(e.value) != c.opts.Member {
		return fmt.Errorf("dcstest refresh leader: %w", dcs.ErrLockLost)
	}
	if e.lease != c.lease {
		c.b.rev++
		c.b.putLocked(k, e.value, c.lease)
		c.b.notifyLocked([]string{k}, false)
	}
	return nil
}

func (c *client) ReleaseLeader(ctx context.Context) error {
	if err := c.begin(ctx, "release leader"); err != nil {
		return err
	}
	defer c.end()
	k := c.key(layout.Leader)
	e, ok := c.b.kv[k]
	if !ok || string(e.value) != c.opts.Member {
		return fmt.Errorf("dcstest release leader: %w", dcs.ErrLockLost)
	}
	c.b.rev++
	delete(c.b.kv, k)
	c.b.notifyLocked([]string{k}, false)
	return nil
}

// put follows dcs.Store's revision rules; it needs b.mu.
func (c *client) put(rel string, value []byte, rev int64) bool {
	k := c.key(rel)
	e, ok := c.b.kv[k]
	switch {
	case rev == 0 && ok:
		return false
	case rev > 0 && (!ok || e.mod != rev):
		return false
	}
	c.b.rev++
	c.b.putLocked(k, value, 0)
	c.b.notifyLocked([]string{k}, false)
	return true
}

func (c *client) casPut(ctx context.Context, op, rel string, value []byte, rev int64) (bool, error) {
	if err := c.begin(ctx, op); err != nil {
		return false, err
	}
	defer c.end()
	return c.put(rel, value, rev), nil
}

func (c *client) Initialize(ctx context.Context, create bool, sysid string) (bool, error) {
	rev := int64(-1)
	if create {
		rev = 0
	}
	return c.casPut(ctx, "initialize", layout.Initialize, []byte(sysid), rev)
}

// del needs b.mu; deleting an absent key is not a write, as in etcd.
func (c *client) del(rel string) {
	k := c.key(rel)
	if _, ok := c.b.kv[k]; !ok {
		return
	}
	c.b.rev++
	delete(c.b.kv, k)
	c.b.notifyLocked([]string{k}, false)
}

func (c *client) CancelInitialize(ctx context.Context) error {
	if err := c.begin(ctx, "cancel initialize"); err != nil {
		return err
	}
	defer c.end()
	c.del(layout.Initialize)
	return nil
}

func (c *client) SetConfig(ctx context.Context, value []byte, revision int64) (bool, error) {
	return c.casPut(ctx, "set config", layout.Config, value, revision)
}

func (c *client) SetFailover(ctx context.Context, value []byte, revision int64) (bool, error) {
	return c.casPut(ctx, "set failover", layout.Failover, value, revision)
}

func (c *client) SetSync(ctx context.Context, value []byte, revision int64) (bool, error) {
	return c.casPut(ctx, "set sync", layout.Sync, value, revision)
}

func (c *client) DeleteSync(ctx context.Context, revision int64) error {
	if err := c.begin(ctx, "delete sync"); err != nil {
		return err
	}
	defer c.end()
	if e, ok := c.b.kv[c.key(layout.Sync)]; ok && revision > 0 && e.mod != revision {
		return nil
	}
	c.del(layout.Sync)
	return nil
}

func (c *client) SetStatus(ctx context.Context, value []byte) error {
	_, err := c.casPut(ctx, "set status", layout.Status, value, -1)
	return err
}

func (c *client) SetHistory(ctx context.Context, value []byte) error {
	_, err := c.casPut(ctx, "set history", layout.History, value, -1)
	return err
}

func (c *client) SetFailsafe(ctx context.Context, value []byte) error {
	_, err := c.casPut(ctx, "set failsafe", layout.Failsafe, value, -1)
	return err
}

func (c *client) DeleteCluster(ctx context.Context) error {
	if err := c.begin(ctx, "delete cluster"); err != nil {
		return err
	}
	defer c.end()
	var gone []string
	for k := range c.b.kv {
		if strings.HasPrefix(k, c.opts.Prefix) {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	c.b.rev++
	for _, k := range gone {
		delete(c.b.kv, k)
	}
	c.b.notifyLocked(gone, true)
	return nil
}

// Close unregisters the watch; the lease is left to expire, as with etcd.
func (c *client) Close() error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.closed = true
	ws := c.b.watchers[:0]
	for _, w := range c.b.watchers {
		if w.ch != c.changes {
			ws = append(ws, w)
		}
	}
	c.b.watchers = ws
	return nil
}

func sortKVs(kvs []layout.KV) {
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
}
