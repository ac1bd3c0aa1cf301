// Package etcd3 implements dcs.Store over etcd's v3 API with Patroni's key layout and
// values, so patronictl and other Patroni tooling can read a Warden cluster.
package etcd3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/etcd3/layout"
)

// Store is one member's view of one cluster in etcd.
type Store struct {
	cli        *clientv3.Client
	ownsClient bool
	opts       dcs.Options
	log        *slog.Logger
	changes    chan struct{}

	// mu guards the lease state. It is held across the lease round trips so that the
	// HA loop and an API-triggered write cannot grant two leases.
	mu         sync.Mutex
	ttl        time.Duration
	lease      clientv3.LeaseID
	leaseTTL   time.Duration
	lastMember []byte
	lastLease  clientv3.LeaseID
	// keptAlive is when etcd last confirmed the lease alive.
	keptAlive time.Time

	watchMu      sync.Mutex
	watchStarted bool
	closed       bool
	stop         context.CancelFunc
	watchDone    chan struct{}
	// watched is the last revision the watch delivered, for tests and diagnostics.
	watched atomic.Int64
}

var _ dcs.Store = (*Store)(nil)

// New connects to etcd and returns the store; Close closes the client.
func New(ctx context.Context, cc ClientConfig, opts dcs.Options, log *slog.Logger) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("etcd3 store: %w", err)
	}
	if err := validate(opts); err != nil {
		return nil, err
	}
	if cc.DialTimeout <= 0 {
		cc.DialTimeout = opts.RetryTimeout
	}
	if cc.TLS != nil {
		if err := checkTLS(ctx, cc.Endpoints, cc.TLS, opts.RetryTimeout); err != nil {
			return nil, err
		}
	}
	cli, err := connect(ctx, cc, log)
	if err != nil {
		return nil, err
	}
	if err := probe(ctx, cli, cc.Endpoints, opts.Prefix, opts.RetryTimeout, log); err != nil {
		_ = cli.Close()
		return nil, err
	}
	s, err := Open(cli, opts, log)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	s.ownsClient = true
	return s, nil
}

// Open builds a store over an existing client, which Close leaves open.
func Open(cli *clientv3.Client, opts dcs.Options, log *slog.Logger) (*Store, error) {
	if err := validate(opts); err != nil {
		return nil, err
	}
	return &Store{
		cli: cli, opts: opts, ttl: opts.TTL,
		log:     log.With("dcs", "etcd3", "prefix", opts.Prefix),
		changes: make(chan struct{}, 1),
	}, nil
}

func validate(o dcs.Options) error {
	switch {
	case !strings.HasPrefix(o.Prefix, "/") || !strings.HasSuffix(o.Prefix, "/"):
		return fmt.Errorf("etcd3 store: prefix %q must start and end with /", o.Prefix)
	case o.Member == "" || strings.Contains(o.Member, "/"):
		return fmt.Errorf("etcd3 store: invalid member name %q", o.Member)
	case o.TTL < time.Second:
		return fmt.Errorf("etcd3 store: ttl %s is below etcd's one-second lease granularity", o.TTL)
	case o.RetryTimeout <= 0:
		return fmt.Errorf("etcd3 store: retry_timeout %s must be positive", o.RetryTimeout)
	}
	return nil
}

func (s *Store) key(rel string) string { return s.opts.Prefix + rel }
func (s *Store) memberKey() string     { return s.key(layout.MembersDir + s.opts.Member) }

// bounded applies retry_timeout on top of the caller's deadline.
func (s *Store) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.RetryTimeout)
}

// minAttempt is the shortest slice of retry_timeout one attempt gets. Patroni's is 1 s;
// with a short retry_timeout (2 s, 3 members) that leaves two attempts, which can both
// draw the cut-off member (seen in TestEtcdMemberPartitionedFromPrimary), so every
// member gets one: an etcd request on a healthy member takes milliseconds.
const minAttempt = 500 * time.Millisecond

// retried runs op in attempts of retry_timeout / endpoints (at least minAttempt) until
// one succeeds or ctx ends. A member cut off from this node by a partition takes
// requests and never answers: its connection looks alive until gRPC's keepalive gives
// up (15 s), and the client balances requests round-robin over the connections, so a
// single attempt with the whole retry_timeout fails on every third request and a
// primary demotes while quorum holds. The next attempt goes to the next member, as
// Patroni gives each etcd node retry_timeout / nodes. op must be safe to repeat after
// an attempt that timed out but took effect.
func (s *Store) retried(ctx context.Context, op func(context.Context) error) error {
	n := len(s.cli.Endpoints())
	if n <= 1 {
		return op(ctx)
	}
	slice := max(s.opts.RetryTimeout/time.Duration(n), minAttempt)
	for {
		actx, cancel := context.WithTimeout(ctx, slice)
		err := op(actx)
		cancel()
		// The client reports an attempt's expired deadline as the context's error.
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

// Load reads the whole prefix in one linearizable range: a partitioned member must not
// decide from a stale local copy.
func (s *Store) Load(ctx context.Context) (*cluster.Cluster, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	var resp *clientv3.GetResponse
	err := s.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Get(ctx, s.opts.Prefix, clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("etcd3 load %s: %w", s.opts.Prefix, err)
	}
	kvs := make([]layout.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs = append(kvs, layout.KV{
			Key: strings.TrimPrefix(string(kv.Key), s.opts.Prefix), Value: kv.Value,
			CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Lease: kv.Lease,
		})
	}
	s.startWatch(resp.Header.Revision)
	return layout.Decode(kvs, resp.Header.Revision), nil
}

// Changes wakes the HA loop when a key it decides on changes. The watch starts with the
// first Load, from the revision after that read, so no change can fall in between.
func (s *Store) Changes() <-chan struct{} { return s.changes }

// SetTTL takes effect at the next TouchMember, which grants a lease with the new TTL.
func (s *Store) SetTTL(ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = ttl
}

func isLeaseNotFound(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound) ||
		(err != nil && strings.Contains(err.Error(), rpctypes.ErrGRPCLeaseNotFound.Error()))
}

// grant needs s.mu.
func (s *Store) grant(ctx context.Context) error {
	ttl := s.ttl
	secs := int64((ttl + time.Second - 1) / time.Second)
	var resp *clientv3.LeaseGrantResponse
	err := s.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Grant(ctx, secs)
		return err
	})
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	s.lease, s.leaseTTL, s.keptAlive = resp.ID, ttl, time.Now()
	s.log.Debug("granted lease", "lease", int64(resp.ID), "ttl", ttl)
	return nil
}

// liveLease returns a lease that etcd confirmed alive just now, keeping the current one
// alive with a single keep-alive or granting a new one when it is gone or its TTL is
// outdated. Only the HA loop's own calls keep the lease alive: a stuck loop loses it.
// It needs s.mu.
func (s *Store) liveLease(ctx context.Context) error {
	if s.lease != 0 && s.leaseTTL == s.ttl {
		err := s.retried(ctx, func(ctx context.Context) error {
			_, err := s.cli.KeepAliveOnce(ctx, s.lease)
			return err
		})
		if err == nil {
			s.keptAlive = time.Now()
			return nil
		}
		if !isLeaseNotFound(err) {
			return fmt.Errorf("keep lease %x alive: %w", int64(s.lease), err)
		}
		s.log.Info("lease expired, granting a new one", "lease", int64(s.lease))
	}
	return s.grant(ctx)
}

// TouchMember writes the member key only when its value or lease changed; otherwise the
// keep-alive alone extends it, which saves an etcd write per member per loop.
func (s *Store) TouchMember(ctx context.Context, value []byte) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	// The leader's refresh a moment ago already kept the lease alive: one keep-alive
	// per loop is enough.
	recent := s.lease != 0 && s.leaseTTL == s.ttl && time.Since(s.keptAlive) < s.ttl/4
	if !recent {
		if err := s.liveLease(ctx); err != nil {
			return fmt.Errorf("etcd3 touch member: %w", err)
		}
	}
	if s.lastLease == s.lease && bytes.Equal(s.lastMember, value) {
		return nil
	}
	err := s.putLeased(ctx, s.memberKey(), value)
	if isLeaseNotFound(err) {
		if err = s.grant(ctx); err == nil {
			err = s.putLeased(ctx, s.memberKey(), value)
		}
	}
	if err != nil {
		s.lastLease = 0
		return fmt.Errorf("etcd3 touch member: %w", err)
	}
	s.lastMember, s.lastLease = append([]byte(nil), value...), s.lease
	return nil
}

// AcquireLeader creates the leader key on this member's lease if nobody holds it.
func (s *Store) AcquireLeader(ctx context.Context) (bool, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == 0 || s.leaseTTL != s.ttl {
		if err := s.grant(ctx); err != nil {
			return false, fmt.Errorf("etcd3 acquire leader: %w", err)
		}
	}
	ok, err := s.createLeader(ctx)
	if isLeaseNotFound(err) {
		// The lease expired since the last keep-alive; Patroni grants a new one and
		// retries once within the same deadline.
		if err = s.grant(ctx); err == nil {
			ok, err = s.createLeader(ctx)
		}
	}
	if err != nil {
		return false, fmt.Errorf("etcd3 acquire leader: %w", err)
	}
	return ok, nil
}

func (s *Store) createLeader(ctx context.Context) (bool, error) {
	k := s.key(layout.Leader)
	var resp *clientv3.TxnResponse
	err := s.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, s.opts.Member, clientv3.WithLease(s.lease))).
			Commit()
		return err
	})
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// putLeased writes key on this member's lease (idempotent, so it may be retried).
func (s *Store) putLeased(ctx context.Context, key string, value []byte) error {
	return s.retried(ctx, func(ctx context.Context) error {
		_, err := s.cli.Put(ctx, key, string(value), clientv3.WithLease(s.lease))
		return err
	})
}

// RefreshLeader keeps the lease alive, then confirms in one transaction that the leader
// key still holds our name on our lease. After a lease re-grant the key is moved onto the
// new lease only while it still holds our name (Patroni 4); 3.0.2's blind put could
// overwrite another member's leadership.
func (s *Store) RefreshLeader(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.liveLease(ctx); err != nil {
		return fmt.Errorf("etcd3 refresh leader: %w", err)
	}
	k := s.key(layout.Leader)
	var resp *clientv3.TxnResponse
	err := s.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(k), "=", s.opts.Member),
				clientv3.Compare(clientv3.LeaseValue(k), "=", s.lease)).
			Else(clientv3.OpGet(k)).
			Commit()
		return err
	})
	if err != nil {
		return fmt.Errorf("etcd3 refresh leader: %w", err)
	}
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 || string(kvs[0].Value) != s.opts.Member {
		return fmt.Errorf("etcd3 refresh leader: %w", dcs.ErrLockLost)
	}
	var re *clientv3.TxnResponse
	err = s.retried(ctx, func(ctx context.Context) (err error) {
		re, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(k), "=", s.opts.Member)).
			Then(clientv3.OpPut(k, s.opts.Member, clientv3.WithLease(s.lease))).
			Commit()
		return err
	})
	if err != nil {
		return fmt.Errorf("etcd3 refresh leader: re-attach to lease %x: %w", int64(s.lease), err)
	}
	if !re.Succeeded {
		return fmt.Errorf("etcd3 refresh leader: %w", dcs.ErrLockLost)
	}
	s.log.Info("moved leader key to the current lease", "lease", int64(s.lease))
	return nil
}

// ReleaseLeader deletes the leader key if it still holds our name; ErrLockLost when it
// did not.
func (s *Store) ReleaseLeader(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	k := s.key(layout.Leader)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(k), "=", s.opts.Member)).
		Then(clientv3.OpDelete(k)).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd3 release leader: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcd3 release leader: %w", dcs.ErrLockLost)
	}
	return nil
}

// Initialize writes sysid to the initialize key: only if absent when create is true
// (the bootstrap race), unconditionally otherwise.
func (s *Store) Initialize(ctx context.Context, create bool, sysid string) (bool, error) {
	rev := int64(-1)
	if create {
		rev = 0
	}
	ok, err := s.put(ctx, layout.Initialize, []byte(sysid), rev)
	if err != nil {
		return false, fmt.Errorf("etcd3 initialize: %w", err)
	}
	return ok, nil
}

// CancelInitialize deletes the initialize key after a failed bootstrap.
func (s *Store) CancelInitialize(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	if _, err := s.cli.Delete(ctx, s.key(layout.Initialize)); err != nil {
		return fmt.Errorf("etcd3 cancel initialize: %w", err)
	}
	return nil
}

// put writes rel: rev > 0 compares the mod revision, rev == 0 creates only if absent,
// rev < 0 writes blindly.
func (s *Store) put(ctx context.Context, rel string, value []byte, rev int64) (bool, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	k := s.key(rel)
	if rev < 0 {
		if _, err := s.cli.Put(ctx, k, string(value)); err != nil {
			return false, err
		}
		return true, nil
	}
	cmp := clientv3.Compare(clientv3.ModRevision(k), "=", rev)
	if rev == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
	}
	resp, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(k, string(value))).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// SetConfig writes the config key (see dcs.Store for the revision rules).
func (s *Store) SetConfig(ctx context.Context, value []byte, revision int64) (bool, error) {
	ok, err := s.put(ctx, layout.Config, value, revision)
	if err != nil {
		return false, fmt.Errorf("etcd3 set config: %w", err)
	}
	return ok, nil
}

// SetFailover writes the failover key.
func (s *Store) SetFailover(ctx context.Context, value []byte, revision int64) (bool, error) {
	ok, err := s.put(ctx, layout.Failover, value, revision)
	if err != nil {
		return false, fmt.Errorf("etcd3 set failover: %w", err)
	}
	return ok, nil
}

// SetSync writes the sync key.
func (s *Store) SetSync(ctx context.Context, value []byte, revision int64) (bool, error) {
	ok, err := s.put(ctx, layout.Sync, value, revision)
	if err != nil {
		return false, fmt.Errorf("etcd3 set sync: %w", err)
	}
	return ok, nil
}

// DeleteSync deletes the sync key; with revision > 0 a key changed since that revision
// is left as it is.
func (s *Store) DeleteSync(ctx context.Context, revision int64) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	k := s.key(layout.Sync)
	var err error
	if revision > 0 {
		_, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", revision)).
			Then(clientv3.OpDelete(k)).
			Commit()
	} else {
		_, err = s.cli.Delete(ctx, k)
	}
	if err != nil {
		return fmt.Errorf("etcd3 delete sync: %w", err)
	}
	return nil
}

func (s *Store) blind(ctx context.Context, rel string, value []byte) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	err := s.retried(ctx, func(ctx context.Context) error {
		_, err := s.put(ctx, rel, value, -1)
		return err
	})
	if err != nil {
		return fmt.Errorf("etcd3 set %s: %w", rel, err)
	}
	return nil
}

// SetStatus writes the status key.
func (s *Store) SetStatus(ctx context.Context, value []byte) error {
	return s.blind(ctx, layout.Status, value)
}

// SetHistory writes the history key.
func (s *Store) SetHistory(ctx context.Context, value []byte) error {
	return s.blind(ctx, layout.History, value)
}

// SetFailsafe writes the failsafe key.
func (s *Store) SetFailsafe(ctx context.Context, value []byte) error {
	return s.blind(ctx, layout.Failsafe, value)
}

// DeleteCluster removes every key under the prefix (patronictl remove).
func (s *Store) DeleteCluster(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	if _, err := s.cli.Delete(ctx, s.opts.Prefix, clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("etcd3 delete cluster %s: %w", s.opts.Prefix, err)
	}
	return nil
}

// Close stops the watch and, for a store made by New, closes the client. The lease is
// not revoked: the member key expires after ttl, as in Patroni.
func (s *Store) Close() error {
	s.watchMu.Lock()
	s.closed = true
	stop, done := s.stop, s.watchDone
	s.watchMu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if s.ownsClient {
		if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("etcd3 close: %w", err)
		}
	}
	return nil
}
