package agent

import "testing"

func TestHeartbeatFilter(t *testing.T) {
	steady := []any{"plan", "refresh-leader", "leader", "pg-1"}
	f := heartbeatFilter{on: true}
	for i, step := range []struct {
		reason string
		attrs  []any
		skip   bool
	}{
		{"no action. I am (pg-1), the leader with the lock", steady, false},
		{"no action. I am (pg-1), the leader with the lock", steady, true},
		{"no action. I am (pg-1), the leader with the lock", steady, true},
		{"no action. I am (pg-1), the leader with the lock", []any{"plan", "refresh-leader, ensure-slots", "leader", "pg-1"}, false},
		{"manual failover: demoting myself", nil, false},
		{"no action. I am (pg-1), the leader with the lock", steady, false},
		{"PAUSE: no action. I am (pg-1), the leader with the lock", steady, false},
		{"PAUSE: no action. I am (pg-1), the leader with the lock", steady, true},
	} {
		if got := f.skip(step.reason, step.attrs); got != step.skip {
			t.Errorf("step %d %q: skip = %v, want %v", i, step.reason, got, step.skip)
		}
	}
	off := heartbeatFilter{}
	for i := range 2 {
		if off.skip("no action. x", nil) {
			t.Errorf("heartbeat %d skipped with deduplicate_heartbeat_logs off", i+1)
		}
	}
}
