package sim

import (
	"strings"
	"testing"
	"time"
)

func failsafeCluster(t *testing.T, timing Timing, majority bool) (*Sim, string) {
	t.Helper()
	return healthyClusterWith(t, Config{Seed: 7, Timing: timing, Profile: Scripted, PrimaryStartTimeout: 300 * time.Second,
		FailsafeMode: true, FailsafeMajority: majority})
}

// stillOnly fails unless primary alone is writable.
func stillOnly(t *testing.T, s *Sim, primary string) {
	t.Helper()
	if w := s.Writable(); len(w) != 1 || w[0] != primary {
		t.Fatalf("t=%s: writable %v, want only %s; %s\n%s", s.Now(), w, primary, s.State(), s.Transcript())
	}
}

// The whole store is unreachable for 3*ttl: every member confirms, the primary keeps
// accepting writes throughout, nobody is promoted, and the cluster is healthy with the
// same leader once the store returns.
func TestFailsafeStoreOutageKeepsPrimary(t *testing.T) {
	for name, timing := range timings() {
		t.Run(name, func(t *testing.T) {
			s, primary := failsafeCluster(t, timing, false)
			promotions := s.Stats().Promotions
			s.StoreOutage(true)
			for end := s.Now() + 3*timing.TTL; s.Now() < end; {
				s.RunFor(100 * time.Millisecond)
				failIfViolated(t, s)
				stillOnly(t, s, primary)
			}
			if s.Stats().FailsafeHeld == 0 {
				t.Fatalf("the primary never ran on confirmations alone\n%s", s.Transcript())
			}
			s.StoreOutage(false)
			s.awaitHealthy(2*timing.TTL, "store back")
			failIfViolated(t, s)
			if s.Holder() != primary || s.Stats().Promotions != promotions {
				t.Errorf("after the outage: holder %q (was %s), %d promotions", s.Holder(), primary, s.Stats().Promotions-promotions)
			}
		})
	}
}

// Only the primary loses the store: the replicas can read it, so they refuse to confirm,
// and the primary demotes before one of them can take the expired key.
func TestFailsafePrimaryAloneWithoutStoreDemotes(t *testing.T) {
	for name, timing := range timings() {
		t.Run(name, func(t *testing.T) {
			s, primary := failsafeCluster(t, timing, false)
			s.Partition(primary, true)
			waitFor(t, s, timing.TTL+2*timing.LoopWait, "a replica takes over", otherWritable(s, primary))
			if !strings.Contains(s.Transcript(), "DCS is accessible") {
				t.Errorf("no replica refused the confirmation\n%s", s.Transcript())
			}
			s.Partition(primary, false)
			s.awaitHealthy(3*timing.TTL, "partition healed")
			failIfViolated(t, s)
		})
	}
}

// The store is gone for everyone and the primary runs on confirmations; then the store
// comes back for the replicas but not for the primary. The replicas now refuse, but
// each accepted a request less than ttl ago and must not race until that has passed:
// the primary stops first (invariant 1 is checked after every event).
func TestFailsafeReplicasRegainStoreFirst(t *testing.T) {
	for name, timing := range timings() {
		t.Run(name, func(t *testing.T) {
			s, primary := failsafeCluster(t, timing, false)
			s.StoreOutage(true)
			s.RunFor(2 * timing.TTL)
			failIfViolated(t, s)
			stillOnly(t, s, primary)
			s.Partition(primary, true)
			s.StoreOutage(false)
			waitFor(t, s, 2*timing.TTL+2*timing.LoopWait, "a replica takes over", otherWritable(s, primary))
			s.Partition(primary, false)
			s.awaitHealthy(3*timing.TTL, "partition healed")
			failIfViolated(t, s)
		})
	}
}

// The partition {primary, one replica} | {other replica, store}, where the other replica
// cannot reach the primary's side either. The replica on the primary's side confirms,
// the one on the store's side cannot be asked. With confirmations from a majority the
// primary stays writable while the store's side, seeing the lease expire and no peer
// alive, promotes: two primaries. Requiring every listed member prevents it.
func TestFailsafeMajorityWouldSplitBrain(t *testing.T) {
	timing := Tight
	partition := func(s *Sim, primary string) string {
		var replicas []string
		for i := range 3 {
			if n := s.Node(i); n != primary {
				replicas = append(replicas, n)
			}
		}
		s.Partition(primary, true)
		s.Partition(replicas[0], true)
		s.SplitFromPeers(replicas[1], true)
		return replicas[1]
	}
	t.Run("majority", func(t *testing.T) {
		s, primary := failsafeCluster(t, timing, true)
		far := partition(s, primary)
		s.RunFor(3 * timing.TTL)
		v := s.Violations()
		if len(v) == 0 || !strings.Contains(v[0], "two writable nodes") {
			t.Fatalf("majority variant: violations %v, want two writable nodes; %s\n%s", v, s.State(), s.Transcript())
		}
		t.Logf("majority variant: %s (%s promoted on the store's side)", v[0], far)
		if testing.Verbose() {
			t.Log(s.Transcript())
		}
	})
	t.Run("all members", func(t *testing.T) {
		s, primary := failsafeCluster(t, timing, false)
		far := partition(s, primary)
		waitFor(t, s, 3*timing.TTL, "the store's side takes over", func() bool {
			w := s.Writable()
			return len(w) == 1 && w[0] == far && s.Holder() == far
		})
		s.HealAll()
		s.awaitHealthy(3*timing.TTL, "partition healed")
		failIfViolated(t, s)
	})
}

// TestFailsafeSchedules plays random Failsafe schedules (the store unreachable from some
// or all nodes, nodes cut off from their peers, kills, crashes, late loops) and fails on
// any invariant violation, two writable nodes included.
func TestFailsafeSchedules(t *testing.T) {
	if *flagSeed >= failsafeSeeds && *flagSeed < syncSeeds {
		replaySeed(t, failsafeConfigFor(*flagSeed))
		return
	}
	seeds := seedCount(2000, 200)
	var total Stats
	failures := 0
	for i := range seeds {
		cfg := failsafeConfigFor(failsafeSeeds + uint64(i))
		s := New(cfg)
		res := s.Run()
		total.Faults += res.Stats.Faults
		total.Promotions += res.Stats.Promotions
		total.FailsafeHeld += res.Stats.FailsafeHeld
		if len(res.Violations) > 0 {
			failures++
			if failures <= 3 {
				t.Errorf("seed %d (%s): %s\nreplay: go test ./internal/sim -run TestFailsafeSchedules -sim.seed=%d\n%s",
					cfg.Seed, cfg.Timing.Name, res.Violations[0], cfg.Seed, s.Transcript())
			}
		}
	}
	t.Logf("%d failsafe schedules: %d faults, %d promotions, %d primary cycles without the store kept by confirmations alone; %d failed",
		seeds, total.Faults, total.Promotions, total.FailsafeHeld, failures)
	if total.FailsafeHeld == 0 {
		t.Error("no schedule kept a primary on confirmations: the schedules do not exercise failsafe_mode")
	}
}

// failsafeSeeds is the first seed of the Failsafe schedules (replayable with -sim.seed).
const failsafeSeeds = 1_000_000

func failsafeConfigFor(seed uint64) Config {
	cfg := Config{Seed: seed, Timing: Default, Profile: Failsafe, PrimaryStartTimeout: 300 * time.Second}
	if seed%2 == 1 {
		cfg.Timing = Tight
	}
	return cfg
}
