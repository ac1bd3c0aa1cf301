package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/warden-ha/warden/internal/callbacks"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

type recordedCallbacks struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordedCallbacks) Run(a callbacks.Action, role string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, string(a)+" "+role)
}

func (r *recordedCallbacks) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func speaking(d cluster.Dialect) func() cluster.Dialect { return func() cluster.Dialect { return d } }

// TestCallbackNodeFiresPatronisCallbacks walks one node through the life a switchover and
// a crash give it and checks each callback fires once, at the moment Patroni fires it,
// with Patroni 3's role words (master) and Patroni 4's (primary).
func TestCallbackNodeFiresPatronisCallbacks(t *testing.T) {
	for _, d := range []cluster.Dialect{cluster.Patroni3, cluster.Patroni4} {
		t.Run(fmt.Sprint("patroni", int(d)), func(t *testing.T) { callbackLife(t, d) })
	}
}

func callbackLife(t *testing.T, d cluster.Dialect) {
	ctx := context.Background()
	f := newFakeNode()
	f.empty, f.running, f.primary = false, true, false
	rec := &recordedCallbacks{}
	n := withCallbacks(f, rec, speaking(d))
	set := func(running, primary bool) {
		f.mu.Lock()
		f.running, f.primary = running, primary
		f.mu.Unlock()
	}
	for _, step := range []struct {
		name string
		do   func()
		want []string
	}{
		{"first look finds a running replica", func() { n.Observe(ctx, nil) }, []string{"on_start replica"}},
		{"nothing changed", func() { n.Observe(ctx, nil) }, nil},
		{"promotion", func() {
			set(true, true)
			if _, err := n.Promote(ctx); err != nil {
				t.Fatal(err)
			}
			n.Observe(ctx, nil)
		}, []string{"on_role_change master"}},
		{"demotion stops the primary", func() {
			if err := n.Stop(ctx, ha.StopFast); err != nil {
				t.Fatal(err)
			}
			n.Observe(ctx, nil)
		}, []string{"on_stop master"}},
		{"stopping a stopped server", func() { _ = n.Stop(ctx, ha.StopFast) }, nil},
		{"started again as a replica", func() {
			if err := n.Follow(ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
			n.Observe(ctx, nil)
		}, []string{"on_role_change replica"}},
		{"restart", func() {
			if err := n.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			n.Observe(ctx, nil)
		}, []string{"on_restart replica"}},
		{"crash fires nothing", func() { set(false, false); n.Observe(ctx, nil) }, nil},
		{"start after the crash", func() { set(true, false); n.Observe(ctx, nil) }, []string{"on_start replica"}},
		{"promotion seen only by Observe", func() { set(true, true); n.Observe(ctx, nil) }, []string{"on_role_change master"}},
	} {
		step.do()
		for i := range step.want {
			step.want[i] = strings.Replace(step.want[i], " master", " "+d.RoleWord(cluster.RolePrimary), 1)
		}
		if got := rec.take(); !slices.Equal(got, step.want) {
			t.Fatalf("%s: callbacks %q, want %q", step.name, got, step.want)
		}
	}
}

// TestCallbackNodeDemotedAfterFailedStart: a leader whose PostgreSQL does not start gives
// up its key with on_role_change demoted in Patroni 4's words, nothing in Patroni 3's;
// back as a replica both fire on_role_change replica.
func TestCallbackNodeDemotedAfterFailedStart(t *testing.T) {
	for d, want := range map[cluster.Dialect][]string{cluster.Patroni3: nil, cluster.Patroni4: {"on_role_change demoted"}} {
		ctx := context.Background()
		f := newFakeNode()
		f.empty, f.running, f.primary = false, true, true
		rec := &recordedCallbacks{}
		n := withCallbacks(f, rec, speaking(d)).(*callbackNode)
		n.Observe(ctx, nil)
		f.mu.Lock()
		f.running = false
		f.mu.Unlock()
		n.Observe(ctx, nil)
		rec.take()
		n.demoted()
		if got := rec.take(); !slices.Equal(got, want) {
			t.Errorf("Patroni %d: callbacks %q, want %q", d, got, want)
		}
		f.mu.Lock()
		f.running, f.primary = true, false
		f.mu.Unlock()
		n.Observe(ctx, nil)
		if got := rec.take(); !slices.Equal(got, []string{"on_role_change replica"}) {
			t.Errorf("Patroni %d: back as a replica: %q", d, got)
		}
	}
}

func TestCallbackNodeBootstrapFiresOnStartOnce(t *testing.T) {
	ctx := context.Background()
	rec := &recordedCallbacks{}
	n := withCallbacks(newFakeNode(), rec, speaking(0))
	n.Observe(ctx, nil)
	if _, err := n.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	n.Observe(ctx, nil)
	if got := rec.take(); !slices.Equal(got, []string{"on_start master"}) {
		t.Fatalf("callbacks %q", got)
	}
}

func TestWithoutCallbacksTheNodeIsUnwrapped(t *testing.T) {
	f := newFakeNode()
	if withCallbacks(f, nil, speaking(0)) != Node(f) {
		t.Fatal("a nil Callbacks must not wrap the node")
	}
}
