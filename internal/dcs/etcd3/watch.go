package etcd3

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/warden-ha/warden/internal/dcs/etcd3/layout"
)

const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 5 * time.Second
)

// startWatch starts the store's one watch goroutine from the revision after the first
// Load, so the read and the watch cover every revision between them.
func (s *Store) startWatch(readRev int64) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watchStarted || s.closed {
		return
	}
	s.watchStarted = true
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(s.watchDone)
		s.watchLoop(ctx, readRev+1)
	}()
}

func (s *Store) wake() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// watchLoop restarts the watch after errors with bounded backoff. A restart after an
// error also wakes the loop: changes may have been missed, and the loop re-reads anyway.
func (s *Store) watchLoop(ctx context.Context, rev int64) {
	backoff := watchBackoffMin
	for {
		next, progressed := s.watchOnce(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		s.wake()
		if progressed {
			backoff = watchBackoffMin
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, watchBackoffMax)
		rev = next
	}
}

// watchOnce runs one watch stream until it fails and returns the revision to resume from
// and whether any event arrived.
func (s *Store) watchOnce(ctx context.Context, rev int64) (int64, bool) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	progressed := false
	for resp := range s.cli.Watch(wctx, s.opts.Prefix, opts...) {
		if resp.CompactRevision != 0 {
			// Events before the compaction are lost; the wake-up on return makes the loop
			// re-read, and the watch resumes at the oldest revision still kept.
			s.log.Warn("watch revision compacted, resuming", "revision", rev, "compacted", resp.CompactRevision)
			return resp.CompactRevision, progressed
		}
		if err := resp.Err(); err != nil {
			s.log.Warn("watch failed, restarting", "err", err)
			return rev, progressed
		}
		wakes := false
		for _, ev := range resp.Events {
			progressed = true
			rev = ev.Kv.ModRevision + 1
			s.watched.Store(ev.Kv.ModRevision)
			if layout.Wakes(strings.TrimPrefix(string(ev.Kv.Key), s.opts.Prefix), ev.IsCreate() || ev.Type == clientv3.EventTypeDelete) {
				wakes = true
			}
		}
		if wakes {
			s.wake()
		}
	}
	return rev, progressed
}
