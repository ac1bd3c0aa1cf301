package agent

import (
	"context"
	"sync"

	"github.com/warden-ha/warden/internal/callbacks"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

// Callbacks runs the user's callback scripts (postgresql.callbacks) with the role word
// given; Run never waits for one.
type Callbacks interface {
	Run(action callbacks.Action, role string)
}

// callbackNode fires Patroni's callbacks around the node's actions and on what Observe
// sees, so the executor and the loop need not know about them:
//   - on_start when PostgreSQL is seen running and was not (a start by any action, a
//     restart after a crash, and the first look after the agent started, as Patroni);
//   - on_role_change instead, when it comes back in another role than it had (a demoted
//     primary running as a replica), and right after a promotion;
//   - on_stop after Stop stopped a running server (shutdown, demotion);
//   - on_restart after a restart, and on_start after a bootstrap (not while bootstrapping).
//
// A crash fires nothing, as in Patroni.
type callbackNode struct {
	Node
	cb Callbacks
	// words is the dialect whose role words the scripts get.
	words func() cluster.Dialect

	mu sync.Mutex
	// running: PostgreSQL was last seen ready; role is the role it had then, kept across
	// a stop so the next start can tell a role change.
	running bool
	role    cluster.Role
	// quiet > 0 while an action that fires its own callback runs, so Observe on the loop
	// goroutine does not fire on_start for its intermediate states.
	quiet int
}

func withCallbacks(n Node, cb Callbacks, words func() cluster.Dialect) Node {
	if cb == nil {
		return n
	}
	return &callbackNode{Node: n, cb: cb, words: words}
}

func readyRole(o Observation) cluster.Role {
	if o.InRecovery {
		return cluster.RoleReplica
	}
	return cluster.RolePrimary
}

// fire runs a callback; called with mu held (Run only starts the script).
func (n *callbackNode) fire(a callbacks.Action, r cluster.Role) { n.cb.Run(a, n.words().RoleWord(r)) }

func (n *callbackNode) Observe(ctx context.Context, members []cluster.Member) Observation {
	o := n.Node.Observe(ctx, members)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.quiet > 0 {
		return o
	}
	switch {
	case o.Ready:
		r := readyRole(o)
		switch {
		case n.running && r != n.role, !n.running && n.role != "" && r != n.role:
			n.fire(callbacks.OnRoleChange, r)
		case !n.running:
			n.fire(callbacks.OnStart, r)
		}
		n.running, n.role = true, r
	case !o.Running:
		// A postmaster that runs but does not answer yet keeps its state: a slow query
		// must not turn into a second on_start.
		n.running = false
	}
	return o
}

func (n *callbackNode) hush() func() {
	n.mu.Lock()
	n.quiet++
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		n.quiet--
		n.mu.Unlock()
	}
}

func (n *callbackNode) Bootstrap(ctx context.Context) (string, error) {
	done := n.hush()
	defer done()
	sysid, err := n.Node.Bootstrap(ctx)
	if err == nil {
		n.mu.Lock()
		n.running, n.role = true, cluster.RolePrimary
		n.fire(callbacks.OnStart, cluster.RolePrimary)
		n.mu.Unlock()
	}
	return sysid, err
}

func (n *callbackNode) Promote(ctx context.Context) (Promotion, error) {
	done := n.hush()
	defer done()
	p, err := n.Node.Promote(ctx)
	if err == nil {
		n.mu.Lock()
		n.running, n.role = true, cluster.RolePrimary
		n.fire(callbacks.OnRoleChange, cluster.RolePrimary)
		n.mu.Unlock()
	}
	return p, err
}

func (n *callbackNode) Stop(ctx context.Context, mode ha.StopMode) error {
	n.mu.Lock()
	was, role := n.running, n.role
	n.mu.Unlock()
	err := n.Node.Stop(ctx, mode)
	if err == nil && was {
		n.mu.Lock()
		n.running = false
		n.fire(callbacks.OnStop, role)
		n.mu.Unlock()
	}
	return err
}

func (n *callbackNode) Restart(ctx context.Context) error {
	done := n.hush()
	defer done()
	err := n.Node.Restart(ctx)
	if err == nil {
		n.mu.Lock()
		n.running = true
		n.fire(callbacks.OnRestart, n.role)
		n.mu.Unlock()
	}
	return err
}

// demoted fires Patroni 4's on_role_change demoted when the leader gives up its key
// because its PostgreSQL failed to start (ha.py post_recover); Patroni 3 changes the
// role without a callback. Either way the next start as a replica fires on_role_change.
func (n *callbackNode) demoted() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.role.IsPrimary() && n.role != cluster.RoleStandbyLeader {
		return
	}
	n.role = cluster.RoleDemoted
	if n.words().Major() == cluster.Patroni4 {
		n.fire(callbacks.OnRoleChange, cluster.RoleDemoted)
	}
}

// reloaded fires on_reload after PostgreSQL re-read its configuration.
func (n *callbackNode) reloaded() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		n.fire(callbacks.OnReload, n.role)
	}
}

// startFailedDemoted fires demoted when callbacks are configured.
func (a *Agent) startFailedDemoted() {
	if cn, ok := a.node.(*callbackNode); ok {
		cn.demoted()
	}
}

// reloaded fires on_reload when callbacks are configured.
func (a *Agent) reloaded() {
	if cn, ok := a.node.(*callbackNode); ok {
		cn.reloaded()
	}
}
