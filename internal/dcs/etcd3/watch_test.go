package etcd3

import (
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/dcs/etcd3/layout"
)

func waitWake(t *testing.T, s *Store, what string) {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-s.Changes():
	case <-timer.C:
		t.Fatalf("no wake-up: %s", what)
	}
}

// A watch whose start revision was compacted away must wake the loop (it may have missed
// changes) and keep delivering later changes.
func TestWatchSurvivesCompaction(t *testing.T) {
	prefix := freshPrefix()
	s := newStore(t, "a", prefix, 5*time.Second)
	cli := rawClient(t)
	ctx := t.Context()
	first, err := cli.Put(ctx, prefix+layout.Config, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	last, err := cli.Put(ctx, prefix+layout.History, `[]`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, last.Header.Revision); err != nil {
		t.Fatal(err)
	}
	s.startWatch(first.Header.Revision - 1)
	waitWake(t, s, "after compaction")
	if _, err := cli.Put(ctx, prefix+layout.Leader, "b"); err != nil {
		t.Fatal(err)
	}
	waitWake(t, s, "leader written after the watch resumed")
}

func TestWatchIgnoresMemberChurn(t *testing.T) {
	prefix := freshPrefix()
	s := newStore(t, "a", prefix, 5*time.Second)
	cli := rawClient(t)
	ctx := t.Context()
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+"members/b", `{"a":0}`); err != nil {
		t.Fatal(err)
	}
	waitWake(t, s, "member key created")
	for _, v := range []string{`{"a":1}`, `{"a":2}`, `{"a":3}`} {
		if _, err := cli.Put(ctx, prefix+"members/b", v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, prefix+layout.Status, `{"optime":1}`); err != nil {
		t.Fatal(err)
	}
	marker, err := cli.Put(ctx, prefix+layout.History, `[]`)
	if err != nil {
		t.Fatal(err)
	}
	waitWatched(t, s, marker.Header.Revision)
	select {
	case <-s.Changes():
		t.Fatal("member, status or history churn woke the loop")
	default:
	}
	if _, err := cli.Put(ctx, prefix+layout.Config, `{"ttl":5}`); err != nil {
		t.Fatal(err)
	}
	waitWake(t, s, "config write")
	if _, err := cli.Delete(ctx, prefix+"members/b"); err != nil {
		t.Fatal(err)
	}
	waitWake(t, s, "member key deleted")
}

// waitWatched waits until the watch goroutine has processed revision rev.
func waitWatched(t *testing.T, s *Store, rev int64) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.watched.Load() < rev {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("watch processed revision %d, want %d", s.watched.Load(), rev)
		}
	}
}
