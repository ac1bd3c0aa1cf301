package sim

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

var (
	flagSeeds = flag.Int("sim.seeds", 0, "number of random schedules (default 2000, 300 with -short)")
	flagSeed  = flag.Uint64("sim.seed", 0, "replay one schedule and print its transcript")
)

// configFor derives a schedule's timing and fault profile from its seed, so a seed alone
// replays it.
func configFor(seed uint64) Config {
	cfg := Config{Seed: seed, Timing: Default, Profile: Mixed, PrimaryStartTimeout: 300 * time.Second}
	if seed%2 == 1 {
		cfg.Timing = Tight
	}
	switch seed % 10 {
	case 2, 3:
		cfg.Profile = GracefulOnly
	case 4, 5:
		cfg.Profile = Frozen
	case 6, 7:
		cfg.Profile = Failsafe
	}
	if seed%7 == 0 {
		cfg.PrimaryStartTimeout = 0
	}
	if seed%3 == 0 {
		cfg.Tags = ring
	}
	cfg.PrePromoteFlaky = seed%5 == 1
	return cfg
}

func TestRandomSchedules(t *testing.T) {
	if *flagSeed != 0 && *flagSeed < failsafeSeeds {
		replaySeed(t, configFor(*flagSeed))
		return
	}
	seeds := seedCount(2000, 300)
	var total Stats
	byProfile := map[Profile]int{}
	start := time.Now()
	failures := 0
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		cfg := configFor(seed)
		s := New(cfg)
		res := s.Run()
		byProfile[cfg.Profile]++
		total.Events += res.Stats.Events
		total.Cycles += res.Stats.Cycles
		total.Faults += res.Stats.Faults
		total.Promotions += res.Stats.Promotions
		total.FailsafeHeld += res.Stats.FailsafeHeld
		total.DualWindows += res.Stats.DualWindows
		total.DualTotal += res.Stats.DualTotal
		total.PrePromoteRefusals += res.Stats.PrePromoteRefusals
		if len(res.Violations) > 0 {
			failures++
			if failures <= 3 {
				t.Errorf("seed %d (%s, %s): %s\nreplay: go test ./internal/sim -run TestRandomSchedules -sim.seed=%d\n%s",
					seed, cfg.Timing.Name, cfg.Profile, res.Violations[0], seed, s.Transcript())
			}
		}
	}
	t.Logf("%d schedules (%v) in %s: %d events, %d agent cycles, %d faults, %d promotions; %d failed",
		seeds, byProfile, time.Since(start).Round(time.Millisecond), total.Events, total.Cycles, total.Faults, total.Promotions, failures)
	t.Logf("flaky pre_promote schedules: %d promotions refused by the script", total.PrePromoteRefusals)
	t.Logf("failsafe schedules: %d primary cycles without the store kept by confirmations alone", total.FailsafeHeld)
	t.Logf("frozen-agent schedules: %d windows with two writable nodes, %s in total (closed later by fencing)",
		total.DualWindows, total.DualTotal)
	if failures > 0 {
		t.Errorf("%d of %d schedules violated an invariant", failures, seeds)
	}
}

func ExampleSim_Run() {
	s := New(Config{Seed: 42, Timing: Tight, Profile: Mixed, PrimaryStartTimeout: 300 * time.Second})
	res := s.Run()
	fmt.Println(len(res.Violations))
	// Output: 0
}

// replaySeed runs one schedule with its transcript, for -sim.seed.
func replaySeed(t *testing.T, cfg Config) {
	t.Helper()
	s := New(cfg)
	res := s.Run()
	t.Logf("seed %d (%s, %s, synchronous_mode %q)\n%s", cfg.Seed, cfg.Timing.Name, cfg.Profile, cfg.SyncMode, s.Transcript())
	if len(res.Violations) > 0 {
		t.Fatalf("seed %d: %v", cfg.Seed, res.Violations)
	}
}

// seedCount is how many schedules a test runs: -sim.seeds, else full or short.
func seedCount(full, short int) int {
	switch {
	case *flagSeeds > 0:
		return *flagSeeds
	case testing.Short():
		return short
	}
	return full
}
