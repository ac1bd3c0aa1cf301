package sim

import (
	"strings"
	"testing"
	"time"
)

// syncConfigFor is configFor with synchronous replication: quorum (count 1 or 2, strict
// or not) for most seeds, mode on for every fourth; no Frozen profile (two writable
// servers are that profile's point, not a synchronous-replication question).
// syncSeeds offsets the synchronous schedules' seeds for -sim.seed.
const syncSeeds = 2_000_000

func syncConfigFor(seed uint64) Config {
	cfg := configFor(seed)
	if cfg.Profile == Frozen {
		cfg.Profile = Mixed
	}
	cfg.SyncMode, cfg.SyncNodeCount, cfg.SyncStrict = "quorum", 1+int(seed/2%2), seed/4%2 == 0
	if seed%4 == 3 {
		cfg.SyncMode = "on"
	}
	return cfg
}

// TestSyncSchedules runs random fault schedules with synchronous replication and
// checks, besides the other invariants, that a server starting to accept writes holds
// every position acknowledged synchronously before (invariant 7).
func TestSyncSchedules(t *testing.T) {
	if *flagSeed >= syncSeeds {
		replaySeed(t, syncConfigFor(*flagSeed-syncSeeds))
		return
	}
	if *flagSeed != 0 {
		t.Skip("replaying a seed of another test")
	}
	seeds := seedCount(2000, 300)
	var total Stats
	modes := map[string]int{}
	failures := 0
	start := time.Now()
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		cfg := syncConfigFor(seed)
		s := New(cfg)
		res := s.Run()
		modes[cfg.SyncMode]++
		total.Faults += res.Stats.Faults
		total.Promotions += res.Stats.Promotions
		total.AckedWAL += res.Stats.AckedWAL
		total.AckChecks += res.Stats.AckChecks
		if len(res.Violations) > 0 {
			failures++
			if failures <= 3 {
				t.Errorf("seed %d (%s, %s, %s count %d strict %v): %s\nreplay: go test ./internal/sim -run TestSyncSchedules -sim.seed=%d\n%s",
					seed, cfg.Timing.Name, cfg.Profile, cfg.SyncMode, cfg.SyncNodeCount, cfg.SyncStrict, res.Violations[0], syncSeeds+seed, s.Transcript())
			}
		}
	}
	t.Logf("%d synchronous schedules (%v) in %s: %d faults, %d promotions, %d bytes of WAL acknowledged synchronously, %d servers checked on starting to accept writes; %d failed",
		seeds, modes, time.Since(start).Round(time.Millisecond), total.Faults, total.Promotions, total.AckedWAL, total.AckChecks, failures)
	if failures > 0 {
		t.Errorf("%d of %d schedules violated an invariant", failures, seeds)
	}
}

// A quorum voter that fell behind must not promote on its own: with the primary and
// the other voter (which acknowledged the latest commits) killed together, it waits,
// and the cluster comes back with every acknowledged commit once that voter returns.
func TestQuorumVoterBehindWaitsForVotes(t *testing.T) {
	for name, timing := range timings() {
		t.Run(name, func(t *testing.T) {
			s, primary := healthyClusterWith(t, Config{Seed: 11, Timing: timing, Profile: Scripted,
				PrimaryStartTimeout: 300 * time.Second, SyncMode: "quorum"})
			s.RunFor(4 * timing.LoopWait)
			var behind, ahead string
			for i := range 3 {
				if n := s.Node(i); n != primary && behind == "" {
					behind = n
				} else if n != primary {
					ahead = n
				}
			}
			s.Stall(behind, 10*timing.TTL)
			s.RunFor(timing.LoopWait)
			acked := s.acked
			s.Kill(primary)
			s.Kill(ahead)
			s.RunFor(timing.TTL + 3*timing.LoopWait)
			failIfViolated(t, s)
			if w := s.Writable(); len(w) != 0 {
				t.Fatalf("%v accepts writes without the other voter's position (acknowledged %d)\n%s", w, acked, s.Transcript())
			}
			if !strings.Contains(s.Transcript(), "votes the quorum needs") {
				t.Fatalf("the stalled voter did not wait for votes\n%s", s.Transcript())
			}
			s.Restart(ahead)
			waitFor(t, s, 2*timing.TTL+4*timing.LoopWait, "the up-to-date voter takes over", otherWritable(s, primary))
			if got := s.Writable()[0]; got != ahead {
				t.Errorf("%s took over, want %s (the voter holding the acknowledged commits)", got, ahead)
			}
			s.HealAll()
			s.awaitHealthy(4*timing.TTL, "all back")
			failIfViolated(t, s)
			if s.Stats().AckChecks == 0 || acked == 0 {
				t.Errorf("nothing checked: %d checks, acknowledged %d", s.Stats().AckChecks, acked)
			}
		})
	}
}
