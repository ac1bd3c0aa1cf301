package dcstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
)

// ConformanceTTL is the lease TTL every store built for RunConformance must use. Two
// seconds is the shortest TTL a default-tuned etcd accepts (1.5 election timeouts).
const ConformanceTTL = 2 * time.Second

// NewStores builds one store per member, all on one fresh cluster prefix, with
// TTL ConformanceTTL. advance lets time pass: a fake moves its clock, a real store waits.
type NewStores func(t *testing.T, members ...string) (stores []dcs.Store, advance func(d time.Duration))

// RunConformance checks the behaviour the agent relies on. Run it against every Store
// implementation so the simulator's fake cannot drift from etcd.
func RunConformance(t *testing.T, newStores NewStores) {
	cases := []struct {
		name string
		run  func(t *testing.T, newStores NewStores)
	}{
		{"AcquireIsExclusive", testAcquireExclusive},
		{"RefreshByNonHolderIsLockLost", testRefreshNonHolder},
		{"ReleaseOnlyByHolder", testReleaseOnlyByHolder},
		{"LeaseExpiryDropsLeaderAndMember", testLeaseExpiry},
		{"RefreshKeepsLeaseAlive", testRefreshKeepsAlive},
		{"SetTTLMovesLeaderToNewLease", testSetTTL},
		{"InitializeCreateIfAbsent", testInitialize},
		{"CompareAndSwapByRevision", testCAS},
		{"LoadDecodesWhatWasWritten", testLoadDecodes},
		{"ChangesFiresOnLeaderDeletion", testChangesOnLeaderDeletion},
		{"GarbageMemberDoesNotBreakLoad", testGarbageMember},
		{"DeleteCluster", testDeleteCluster},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStores) })
	}
}

func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func load(t *testing.T, s dcs.Store) *cluster.Cluster {
	t.Helper()
	c, err := s.Load(opCtx(t))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func mustAcquire(t *testing.T, s dcs.Store, want bool) {
	t.Helper()
	ok, err := s.AcquireLeader(opCtx(t))
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if ok != want {
		t.Fatalf("acquire = %v, want %v", ok, want)
	}
}

func mustTouch(t *testing.T, s dcs.Store, value []byte) {
	t.Helper()
	if err := s.TouchMember(opCtx(t), value); err != nil {
		t.Fatalf("touch member: %v", err)
	}
}

func memberValue(name string) []byte {
	lsn := uint64(0x3000060)
	return cluster.EncodeMember(cluster.Member{
		Name: name, ConnURL: "postgres://127.0.0.1:5432/postgres", APIURL: "http://127.0.0.1:8008/patroni",
		State: "running", Role: cluster.RoleReplica, Version: cluster.Version, XLogLocation: &lsn, Timeline: 1,
	})
}

// waitFor lets time pass in small steps until cond holds, with tick run at every step
// (members that must stay alive touch their keys there). It fails after 4 TTLs.
func waitFor(t *testing.T, advance func(time.Duration), what string, tick func(), cond func() bool) {
	t.Helper()
	const step = 250 * time.Millisecond
	for waited := time.Duration(0); waited <= 4*ConformanceTTL; waited += step {
		if cond() {
			return
		}
		advance(step)
		tick()
	}
	t.Fatalf("timed out waiting for %s", what)
}

func testAcquireExclusive(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	mustTouch(t, s[0], memberValue("a"))
	mustAcquire(t, s[0], true)
	mustAcquire(t, s[1], false)
	mustAcquire(t, s[0], false)
	c := load(t, s[1])
	if c.LeaderName() != "a" || c.Leader.CreateRevision == 0 || c.Leader.Lease == 0 {
		t.Fatalf("leader = %+v", c.Leader)
	}
	if c.Revision < c.Leader.Revision {
		t.Errorf("snapshot revision %d older than leader's %d", c.Revision, c.Leader.Revision)
	}
}

func testRefreshNonHolder(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	if err := s[0].RefreshLeader(opCtx(t)); !errors.Is(err, dcs.ErrLockLost) {
		t.Fatalf("refresh without any leader = %v, want ErrLockLost", err)
	}
	mustAcquire(t, s[0], true)
	if err := s[1].RefreshLeader(opCtx(t)); !errors.Is(err, dcs.ErrLockLost) {
		t.Fatalf("refresh by non-holder = %v, want ErrLockLost", err)
	}
	if err := s[0].RefreshLeader(opCtx(t)); err != nil {
		t.Fatalf("refresh by holder: %v", err)
	}
	if c := load(t, s[1]); c.LeaderName() != "a" {
		t.Fatalf("leader = %q after a non-holder's refresh", c.LeaderName())
	}
}

func testReleaseOnlyByHolder(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	mustAcquire(t, s[0], true)
	first := load(t, s[0]).Leader.CreateRevision
	if err := s[1].ReleaseLeader(opCtx(t)); !errors.Is(err, dcs.ErrLockLost) {
		t.Fatalf("release by non-holder = %v, want ErrLockLost", err)
	}
	if c := load(t, s[0]); c.LeaderName() != "a" {
		t.Fatalf("non-holder's release removed the leader: %+v", c.Leader)
	}
	if err := s[0].ReleaseLeader(opCtx(t)); err != nil {
		t.Fatalf("release by holder: %v", err)
	}
	if c := load(t, s[0]); c.Locked() {
		t.Fatalf("still locked after release: %+v", c.Leader)
	}
	mustAcquire(t, s[1], true)
	if c := load(t, s[0]); c.LeaderName() != "b" || c.Leader.CreateRevision <= first {
		t.Fatalf("new leader %+v, want b with a create revision above %d", c.Leader, first)
	}
}

func testLeaseExpiry(t *testing.T, newStores NewStores) {
	s, advance := newStores(t, "a", "b")
	mustTouch(t, s[0], memberValue("a"))
	mustAcquire(t, s[0], true)
	mustTouch(t, s[1], memberValue("b"))
	keepB := func() { mustTouch(t, s[1], memberValue("b")) }
	waitFor(t, advance, "a's leader and member keys to expire", keepB, func() bool {
		c := load(t, s[1])
		_, aThere := c.Member("a")
		return !c.Locked() && !aThere
	})
	if _, ok := load(t, s[1]).Member("b"); !ok {
		t.Fatal("b's member key expired although b kept touching it")
	}
	if err := s[0].RefreshLeader(opCtx(t)); !errors.Is(err, dcs.ErrLockLost) {
		t.Fatalf("refresh after expiry = %v, want ErrLockLost", err)
	}
	mustTouch(t, s[0], memberValue("a"))
	if _, ok := load(t, s[1]).Member("a"); !ok {
		t.Fatal("touch after expiry did not recreate the member key on a new lease")
	}
	mustAcquire(t, s[1], true)
	mustAcquire(t, s[0], false)
}

func testRefreshKeepsAlive(t *testing.T, newStores NewStores) {
	s, advance := newStores(t, "a")
	mustTouch(t, s[0], memberValue("a"))
	mustAcquire(t, s[0], true)
	// Refresh at well under the TTL for two TTLs: the keys must survive throughout.
	for passed := time.Duration(0); passed < 2*ConformanceTTL; passed += ConformanceTTL / 4 {
		advance(ConformanceTTL / 4)
		if err := s[0].RefreshLeader(opCtx(t)); err != nil {
			t.Fatalf("refresh after %s: %v", passed, err)
		}
	}
	c := load(t, s[0])
	if _, ok := c.Member("a"); c.LeaderName() != "a" || !ok {
		t.Fatalf("keys expired although the lease was kept alive: %+v", c)
	}
}

func testSetTTL(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a")
	mustTouch(t, s[0], memberValue("a"))
	mustAcquire(t, s[0], true)
	before := load(t, s[0]).Leader
	s[0].SetTTL(2 * ConformanceTTL)
	mustTouch(t, s[0], memberValue("a"))
	if err := s[0].RefreshLeader(opCtx(t)); err != nil {
		t.Fatalf("refresh after ttl change: %v", err)
	}
	after := load(t, s[0])
	if after.LeaderName() != "a" || after.Leader.Lease == before.Lease {
		t.Fatalf("leader %+v still on the old lease %d", after.Leader, before.Lease)
	}
	if after.Leader.CreateRevision != before.CreateRevision {
		t.Errorf("re-attaching changed the fencing token: %d -> %d", before.CreateRevision, after.Leader.CreateRevision)
	}
}

func testInitialize(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	ctx := opCtx(t)
	if c := load(t, s[0]); c.Initialize != nil {
		t.Fatalf("fresh cluster has initialize %q", *c.Initialize)
	}
	if ok, err := s[0].Initialize(ctx, true, ""); err != nil || !ok {
		t.Fatalf("first create = %v, %v", ok, err)
	}
	if ok, err := s[1].Initialize(ctx, true, ""); err != nil || ok {
		t.Fatalf("second create = %v, %v; want false", ok, err)
	}
	if c := load(t, s[1]); c.Initialize == nil || *c.Initialize != "" {
		t.Fatalf("initialize = %v, want empty (in progress)", c.Initialize)
	}
	const sysid = "7268616322854375442"
	if ok, err := s[0].Initialize(ctx, false, sysid); err != nil || !ok {
		t.Fatalf("set sysid = %v, %v", ok, err)
	}
	if id, ok := load(t, s[1]).InitializedSysID(); !ok || id != sysid {
		t.Fatalf("sysid = %q %v", id, ok)
	}
	if err := s[0].CancelInitialize(ctx); err != nil {
		t.Fatal(err)
	}
	if c := load(t, s[1]); c.Initialize != nil {
		t.Fatalf("initialize %q after cancel", *c.Initialize)
	}
	if ok, err := s[1].Initialize(ctx, true, ""); err != nil || !ok {
		t.Fatalf("create after cancel = %v, %v", ok, err)
	}
}

func testCAS(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	ctx := opCtx(t)
	type setter func(context.Context, []byte, int64) (bool, error)
	keys := []struct {
		name string
		set  func(dcs.Store) setter
		rev  func(*cluster.Cluster) int64
	}{
		{"config", func(s dcs.Store) setter { return s.SetConfig }, func(c *cluster.Cluster) int64 { return c.ConfigRevision }},
		{"failover", func(s dcs.Store) setter { return s.SetFailover }, func(c *cluster.Cluster) int64 {
			if c.Failover == nil {
				return -99
			}
			return c.Failover.Revision
		}},
		{"sync", func(s dcs.Store) setter { return s.SetSync }, func(c *cluster.Cluster) int64 {
			if c.Sync == nil {
				return -99
			}
			return c.Sync.Revision
		}},
	}
	for _, k := range keys {
		a, b := k.set(s[0]), k.set(s[1])
		step := func(what string, set setter, rev int64, want bool) {
			t.Helper()
			ok, err := set(ctx, []byte(`{}`), rev)
			if err != nil || ok != want {
				t.Fatalf("%s %s (rev %d) = %v, %v; want %v", k.name, what, rev, ok, err, want)
			}
		}
		step("create", a, 0, true)
		step("create again", b, 0, false)
		rev := k.rev(load(t, s[0]))
		if rev <= 0 {
			t.Fatalf("%s revision %d after create", k.name, rev)
		}
		step("stale swap", b, rev-1, false)
		step("swap", b, rev, true)
		step("swap with the used revision", a, rev, false)
		step("blind write", a, -1, true)
		if got := k.rev(load(t, s[1])); got <= rev {
			t.Fatalf("%s revision did not advance: %d -> %d", k.name, rev, got)
		}
	}
	rev := load(t, s[0]).Sync.Revision
	if err := s[0].DeleteSync(ctx, rev-1); err != nil {
		t.Fatal(err)
	}
	if load(t, s[0]).Sync == nil {
		t.Fatal("delete sync with a stale revision removed the key")
	}
	if err := s[0].DeleteSync(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if c := load(t, s[0]); c.Sync != nil {
		t.Fatalf("sync %+v survived delete", c.Sync)
	}
}

func testLoadDecodes(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	ctx := opCtx(t)
	mustTouch(t, s[0], memberValue("a"))
	mustTouch(t, s[1], memberValue("b"))
	mustAcquire(t, s[0], true)
	writes := []struct {
		name string
		err  error
	}{
		{"status", s[0].SetStatus(ctx, cluster.EncodeStatus(cluster.Status{Optime: 50331744, Slots: map[string]uint64{"b": 50331744}}))},
		{"history", s[0].SetHistory(ctx, cluster.EncodeHistory([]cluster.HistoryEntry{{Timeline: 1, LSN: 50331744, Reason: "no recovery target specified", Timestamp: "2024-01-01T10:00:00+00:00", NewLeader: "a"}}))},
		{"failsafe", s[0].SetFailsafe(ctx, []byte(`{"a":"http://127.0.0.1:8008/patroni","b":"http://127.0.0.2:8008/patroni"}`))},
	}
	for _, w := range writes {
		if w.err != nil {
			t.Fatalf("set %s: %v", w.name, w.err)
		}
	}
	if _, err := s[0].SetConfig(ctx, cluster.EncodeConfig(map[string]any{"ttl": 30, "loop_wait": 10}), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := s[0].SetFailover(ctx, cluster.EncodeFailover(&cluster.Failover{Leader: "a", Candidate: "b"}), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := s[0].SetSync(ctx, cluster.EncodeSync(cluster.SyncState{Leader: "a", SyncStandby: []string{"b"}}), -1); err != nil {
		t.Fatal(err)
	}
	c := load(t, s[1])
	b, ok := c.Member("b")
	switch {
	case c.LeaderName() != "a" || len(c.Members) != 2 || !ok:
		t.Fatalf("leader %q members %+v", c.LeaderName(), c.Members)
	case b.WAL() != 0x3000060 || b.Role != cluster.RoleReplica || b.APIURL != "http://127.0.0.1:8008/patroni" || b.Revision == 0:
		t.Errorf("member b = %+v", b)
	case c.Status.Optime != 50331744 || c.Status.Slots["b"] != 50331744:
		t.Errorf("status = %+v", c.Status)
	case !c.HasHistory || c.Timeline() != 2 || c.History[0].NewLeader != "a":
		t.Errorf("history = %+v", c.History)
	case c.Failsafe["b"] != "http://127.0.0.2:8008/patroni":
		t.Errorf("failsafe = %v", c.Failsafe)
	case c.Config["loop_wait"] != float64(10) || c.ConfigRevision == 0:
		t.Errorf("config = %v rev %d", c.Config, c.ConfigRevision)
	case c.Failover == nil || c.Failover.Candidate != "b" || c.Failover.Revision == 0:
		t.Errorf("failover = %+v", c.Failover)
	case c.Sync == nil || c.Sync.Leader != "a" || len(c.Sync.SyncStandby) != 1 || c.Sync.Revision == 0:
		t.Errorf("sync = %+v", c.Sync)
	}
}

func testChangesOnLeaderDeletion(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	mustAcquire(t, s[0], true)
	load(t, s[1]) // starts b's watch from after this read
	for drained := false; !drained; {
		select {
		case <-s[1].Changes():
		default:
			drained = true
		}
	}
	if err := s[0].ReleaseLeader(opCtx(t)); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-s[1].Changes():
	case <-timer.C:
		t.Fatal("no wake-up after the leader key was deleted")
	}
}

func testGarbageMember(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a", "b")
	mustTouch(t, s[0], memberValue("a"))
	mustTouch(t, s[1], []byte("\x00{garbage"))
	c := load(t, s[0])
	if len(c.Members) != 2 {
		t.Fatalf("members = %+v", c.Members)
	}
	if b, ok := c.Member("b"); !ok || b.APIURL != "" || b.Role != "" {
		t.Fatalf("garbage member decoded as %+v", b)
	}
}

func testDeleteCluster(t *testing.T, newStores NewStores) {
	s, _ := newStores(t, "a")
	ctx := opCtx(t)
	mustTouch(t, s[0], memberValue("a"))
	mustAcquire(t, s[0], true)
	if _, err := s[0].Initialize(ctx, true, "7268616322854375442"); err != nil {
		t.Fatal(err)
	}
	if err := s[0].DeleteCluster(ctx); err != nil {
		t.Fatal(err)
	}
	c := load(t, s[0])
	if c.Locked() || len(c.Members) != 0 || c.Initialize != nil {
		t.Fatalf("keys left after delete: %+v", c)
	}
}
