package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
	"github.com/warden-ha/warden/internal/watchdog"
)

// refusingNode is a replica whose pre_promote script always fails.
type refusingNode struct {
	*fakeNode
	promotes []time.Time
}

func (r *refusingNode) Promote(context.Context) (Promotion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.promotes = append(r.promotes, time.Now())
	return Promotion{}, fmt.Errorf("%w: exit code 1", ErrPrePromote)
}

// recordingFence counts arms.
type recordingFence struct {
	mu   sync.Mutex
	arms int
}

func (f *recordingFence) Arm(time.Duration) { f.mu.Lock(); f.arms++; f.mu.Unlock() }
func (f *recordingFence) Disarm()           {}

// TestPrePromoteFailureReleasesAndBacksOff: the only candidate takes the key, its
// pre_promote fails, it releases the key at the next cycle, and it does not take the
// key again within ttl of the release; PostgreSQL is never promoted, the watchdog
// opened for each attempt is closed again, and the fence is never armed.
func TestPrePromoteFailureReleasesAndBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := testDynamic(10*time.Second, 2*time.Second, 4*time.Second)
		backend := dcstest.NewBackend(time.Now)
		backend.Put("/service/t/initialize", []byte("7300000000000000001"))
		store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: d.TTL, RetryTimeout: d.RetryTimeout})
		node := &refusingNode{fakeNode: newFakeNode()}
		node.empty, node.running, node.wal = false, true, 100
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		dev := &fakeDevice{}
		wd := watchdog.New(watchdog.Config{Mode: "required", SafetyMargin: 5 * time.Second}, func(watchdog.Config) watchdog.Device { return dev }, log)
		fence := &recordingFence{}
		a := New(Options{Name: "pg-1", Scope: "t", Dynamic: d, BootstrapDCS: d.Raw, Watchdog: wd, Fence: fence}, store, node, noPeers{}, log)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()

		var releases []time.Time
		held := false
		for range 600 {
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			cl, err := store.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if held && !cl.Locked() {
				releases = append(releases, time.Now())
				dev.mu.Lock()
				open := dev.lastOpen
				dev.mu.Unlock()
				if open {
					t.Errorf("the watchdog is still open after the key was released")
				}
			}
			held = cl.LeaderName() == "pg-1"
			if st := a.Status(); st.Role == cluster.RolePrimary {
				t.Fatalf("published as primary though pre_promote failed")
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		dev.mu.Lock()
		opened := len(dev.opened)
		dev.mu.Unlock()
		if opened < 2 {
			t.Errorf("the watchdog was opened %d times, want once per attempt", opened)
		}
		fence.mu.Lock()
		if fence.arms != 0 {
			t.Errorf("the fence was armed %d times for a node that never became primary", fence.arms)
		}
		fence.mu.Unlock()
		node.mu.Lock()
		promotes := append([]time.Time(nil), node.promotes...)
		node.mu.Unlock()
		if len(promotes) < 2 || len(releases) < 2 {
			t.Fatalf("in a minute: %d promotion attempts, %d releases; want at least 2 of each", len(promotes), len(releases))
		}
		for i := 1; i < len(promotes); i++ {
			if gap := promotes[i].Sub(releases[i-1]); gap < d.TTL {
				t.Errorf("attempt %d came %s after release %d, want >= ttl %s", i+1, gap, i, d.TTL)
			}
			if gap := releases[i-1].Sub(promotes[i-1]); gap > d.LoopWait+time.Second {
				t.Errorf("release %d came %s after the refused promotion, want within a cycle", i, gap)
			}
		}
	})
}
