package sim

import (
	"testing"
	"time"
)

// ring tags each node replicatefrom the next: whoever holds the key, the node naming
// the holder streams from it and the third cascades from that node (the loop through
// the holder is broken there).
var ring = map[string]map[string]any{
	"pg-1": {"replicatefrom": "pg-2"},
	"pg-2": {"replicatefrom": "pg-3"},
	"pg-3": {"replicatefrom": "pg-1"},
}

// cascading returns the standby streaming from another standby, and that standby.
func cascading(s *Sim) (leaf, mid *node) {
	for _, n := range s.nodes {
		if n.name != s.Holder() && n.pg.upstream != "" && n.pg.upstream != s.Holder() && s.streaming(n) {
			return n, s.node(n.pg.upstream)
		}
	}
	return nil, nil
}

func TestCascadeFallsBackToTheLeaderAndReturns(t *testing.T) {
	for name, timing := range timings() {
		t.Run(name, func(t *testing.T) {
			s := New(Config{Seed: 11, Timing: timing, Profile: Scripted, PrimaryStartTimeout: 300 * time.Second, Tags: ring})
			s.Start()
			s.awaitHealthy(60*time.Second, "bootstrap")
			failIfViolated(t, s)
			leaf, mid := cascading(s)
			if leaf == nil {
				t.Fatalf("no cascade: %s\n%s", s.State(), s.Transcript())
			}
			s.Kill(mid.name)
			took := waitFor(t, s, 2*timing.TTL+timing.LoopWait, leaf.name+" streams from the leader", func() bool {
				return leaf.pg.upstream == s.Holder() && s.streaming(leaf)
			})
			t.Logf("%s streams from the leader %s after %s was killed (ttl %s)", leaf.name, took, mid.name, timing.TTL)
			s.Restart(mid.name)
			s.awaitHealthy(3*timing.TTL, "cascade restored")
			failIfViolated(t, s)
			if l, m := cascading(s); l != leaf || m != mid {
				t.Fatalf("after %s returned: cascade %v under %v, want %s under %s", mid.name, l, m, leaf.name, mid.name)
			}

			// The leader fails: the ring re-forms around the new holder.
			old := s.Holder()
			s.Kill(old)
			waitFor(t, s, timing.TTL+2*timing.LoopWait, "a replica promotes", otherWritable(s, old))
			s.Restart(old)
			s.awaitHealthy(3*timing.TTL, "cascade after failover")
			failIfViolated(t, s)
			if l, _ := cascading(s); l == nil {
				t.Fatalf("no cascade after the failover: %s", s.State())
			}
		})
	}
}
