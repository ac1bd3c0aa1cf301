package pgnode

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/warden-ha/warden/internal/agent"
	"github.com/warden-ha/warden/internal/callbacks"
	"github.com/warden-ha/warden/internal/postgres"
)

// hookTimeout bounds pre_promote and before_stop: ttl, the lease length. A pre_promote
// still running after it cannot be waited for (the leader key is held meanwhile and
// nobody else may take over) and counts as failed.
func (n *Node) hookTimeout() time.Duration {
	if ttl := n.opts.Dynamic().TTL; ttl > 0 {
		return ttl
	}
	return 30 * time.Second
}

// runScript runs a user's script (hook, replica method, bootstrap method, post_bootstrap)
// to completion as the node's OS user, in the agent's environment without its own
// variables plus env, its output logged with the passwords masked (see callbacks.Call).
func (n *Node) runScript(ctx context.Context, name string, argv []string, timeout time.Duration, hide []string, env ...string) (int, error) {
	return callbacks.Call(ctx, callbacks.Script{
		Name: name, Argv: argv, Timeout: timeout, Credential: n.opts.Credential, Hide: append(n.secrets(), hide...),
		Env: append(postgres.FilterEnv(os.Environ()), env...),
	}, n.log)
}

// runHook runs pre_promote or before_stop and logs Patroni's line with its exit code.
func (n *Node) runHook(ctx context.Context, name, line string) (int, error) {
	argv, err := callbacks.Split(line)
	if err != nil {
		return -1, fmt.Errorf("postgresql.%s: %w", name, err)
	}
	code, err := n.runScript(ctx, name, argv, n.hookTimeout(), nil)
	if err != nil {
		n.log.Error(fmt.Sprintf("%s script `%s` failed", name, line), "err", err)
		return code, err
	}
	n.log.Info(fmt.Sprintf("%s script `%s` exited with %d", name, line, code))
	return code, nil
}

// prePromote runs the fencing script between taking the leader key and pg_ctl promote;
// anything but exit code 0 stops the promotion before PostgreSQL is touched.
func (n *Node) prePromote(ctx context.Context) error {
	if n.opts.PrePromote == "" {
		return nil
	}
	code, err := n.runHook(ctx, "pre_promote", n.opts.PrePromote)
	if err == nil && code == 0 {
		return ctx.Err()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", agent.ErrPrePromote, err)
	}
	return fmt.Errorf("%w: exit code %d", agent.ErrPrePromote, code)
}

// beforeStop runs before_stop right before PostgreSQL is told to stop; its exit code
// is only logged.
func (n *Node) beforeStop(ctx context.Context) {
	if n.opts.BeforeStop == "" {
		return
	}
	_, _ = n.runHook(ctx, "before_stop", n.opts.BeforeStop)
}
