package pgnode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/callbacks"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

// ReplicaMethod is one entry of postgresql.create_replica_methods.
type ReplicaMethod struct {
	Name string
	// Config is postgresql.<Name> as written; nil for basebackup or a method without
	// a section (its name is then the command, as in Patroni).
	Config map[string]any
	// NoParams (no_params): pass none of the standard arguments. NoLeader (no_leader or
	// no_master): the method may run while the cluster has no leader, without a source
	// member. KeepData (keep_data): do not wipe the data directory first.
	NoParams, NoLeader, KeepData bool
}

// basebackupMethod is Warden's own pg_basebackup clone.
const basebackupMethod = "basebackup"

// withoutLeader reports whether the method may run without a source member.
func (m ReplicaMethod) withoutLeader() bool { return m.Name != basebackupMethod && m.NoLeader }

// replicaFlags are the options Warden acts on; they are passed on as --k=v too unless
// no_params is set (Patroni's rule).
var replicaFlags = []string{"no_params", "no_master", "no_leader", "keep_data"}

// replicaArgv is the command line of a custom method: the command (the method's name
// when no command is set), then unless no_params --scope, --role=replica, --datadir and
// --connstring, then every other key of the section as --k=v, sorted by key (Patroni
// passes the section's keys in file order, then the standard four: scripts read them
// by name).
func replicaArgv(m ReplicaMethod, scope, dataDir, connstring string) ([]string, error) {
	line := m.Name
	if c, ok := m.Config["command"]; ok {
		s, isStr := c.(string)
		if !isStr {
			return nil, fmt.Errorf("postgresql.%s.command: expected a string", m.Name)
		}
		line = s
	}
	argv, err := callbacks.Split(line)
	if err != nil {
		return nil, fmt.Errorf("postgresql.%s.command: %w", m.Name, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("postgresql.%s.command: empty command", m.Name)
	}
	noParams := m.NoParams
	std := map[string]bool{"scope": true, "role": true, "datadir": true, "connstring": true}
	if !noParams {
		argv = append(argv, "--scope="+scope, "--role=replica", "--datadir="+dataDir, "--connstring="+connstring)
	}
	keys := make([]string, 0, len(m.Config))
	for k := range m.Config {
		switch {
		case k == "command", !noParams && std[k], noParams && slices.Contains(replicaFlags, k):
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		argv = append(argv, fmt.Sprintf("--%s=%s", k, pyStr(m.Config[k])))
	}
	return argv, nil
}

// pyStr formats a scalar the way Python's str() does, as Patroni's "--k=v" shows it.
func pyStr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case string:
		return t
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e16 {
			return strconv.FormatFloat(t, 'f', 1, 64)
		}
		return strconv.FormatFloat(t, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// createReplica fills the empty data directory with the first replica method that
// succeeds, in create_replica_methods order. Without a source member (from has no name
// or address) only no_leader methods run. When every method fails the data directory
// is removed, so the next cycle starts again from nothing.
func (n *Node) createReplica(ctx context.Context, from cluster.Member) error {
	methods := n.opts.ReplicaMethods
	if ha.IsRemote(from.Name) {
		var names []string
		if sb := n.opts.Dynamic().Standby; sb != nil {
			names = sb.CreateReplicaMethods
		}
		methods = remoteMethods(names, n.opts.MethodSections)
	}
	if len(methods) == 0 {
		methods = []ReplicaMethod{{Name: basebackupMethod}}
	}
	dsn := ""
	if from.Name != "" && from.ConnURL != "" {
		var err error
		if dsn, err = n.replicationDSN(from); err != nil {
			return err
		}
	} else {
		methods = slices.DeleteFunc(slices.Clone(methods), func(m ReplicaMethod) bool { return !m.withoutLeader() })
		if len(methods) == 0 && ha.IsRemote(from.Name) {
			return errors.New("standby_cluster sets neither host nor port: only a method with no_leader in standby_cluster.create_replica_methods can create the standby leader")
		}
		if len(methods) == 0 {
			return errors.New("no replica method can create a replica without a leader (none has no_leader)")
		}
	}
	var errs []error
	for _, m := range methods {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		var err error
		if m.Name == basebackupMethod {
			err = n.basebackup(ctx, from.Name, dsn)
		} else {
			err = n.runReplicaMethod(ctx, m, dsn)
		}
		if err == nil {
			n.log.Info("replica has been created using " + m.Name)
			return nil
		}
		n.log.Error(fmt.Sprintf("Error creating replica using method %s", m.Name), "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
	}
	if rmErr := os.RemoveAll(n.opts.DataDir); rmErr != nil {
		errs = append(errs, fmt.Errorf("remove the data directory: %w", rmErr))
	}
	return fmt.Errorf("create replica: %w", errors.Join(errs...))
}

// remoteMethods are the methods that create a standby leader from the remote primary:
// standby_cluster.create_replica_methods (basebackup when empty), each custom one with
// its postgresql.<method> section, or its name as the command when it has none (Patroni).
func remoteMethods(names []string, sections map[string]ReplicaMethod) []ReplicaMethod {
	if len(names) == 0 {
		return []ReplicaMethod{{Name: basebackupMethod}}
	}
	out := make([]ReplicaMethod, 0, len(names))
	for _, name := range names {
		m, ok := sections[name]
		if !ok || name == basebackupMethod {
			m = ReplicaMethod{Name: name}
		}
		out = append(out, m)
	}
	return out
}

// basebackup is the built-in method: pg_basebackup from the member, twice at most.
func (n *Node) basebackup(ctx context.Context, from, dsn string) error {
	const attempts = 2
	for i := 1; ; i++ {
		err := n.tools.BaseBackup(ctx, n.opts.DataDir, dsn, n.secrets(), n.opts.Basebackup)
		if err == nil || i == attempts || ctx.Err() != nil {
			return err
		}
		n.log.Warn("pg_basebackup failed, retrying", "from", from, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// runReplicaMethod runs a custom method with the replication credentials in PGPASSFILE,
// after wiping the data directory unless keep_data is set.
func (n *Node) runReplicaMethod(ctx context.Context, m ReplicaMethod, dsn string) error {
	argv, err := replicaArgv(m, n.opts.Scope, n.opts.DataDir, dsn)
	if err != nil {
		return err
	}
	if empty, _ := n.dir.IsEmpty(); !empty {
		if m.KeepData {
			n.log.Info("Leaving data directory uncleaned", "method", m.Name)
		} else if err := os.RemoveAll(n.opts.DataDir); err != nil {
			return fmt.Errorf("wipe the data directory: %w", err)
		}
	}
	shown, hide := maskSecrets(argv)
	shown = hideAll(shown, n.secrets())
	n.log.Info("creating replica using "+m.Name, "cmd", strings.Join(shown, " "))
	code, err := n.runScript(ctx, "replica method "+m.Name, argv, 0, hide, "PGPASSFILE="+n.opts.PGPass)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s exited with code=%d", argv[0], code)
	}
	if empty, err := n.dir.IsEmpty(); err != nil || empty {
		return fmt.Errorf("%s exited with code=0 but left no data directory", argv[0])
	}
	return nil
}

// secrets are the passwords a script's output or a logged command must not show.
func (n *Node) secrets() []string {
	var out []string
	for _, a := range []Auth{n.opts.Replication, n.opts.Superuser, n.opts.Rewind} {
		out = append(out, a.Password, a.SSL.SSLPassword)
	}
	return out
}

// secretWords mark a --key=value argument whose value must not be logged.
var secretWords = []string{"pass", "secret", "token", "key", "credential"}

// maskSecrets returns argv for the log, with the values of --key=value arguments whose
// key looks secret replaced by ***, and those values.
func maskSecrets(argv []string) (shown, hidden []string) {
	shown = slices.Clone(argv)
	for i, a := range shown {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") || v == "" {
			continue
		}
		lower := strings.ToLower(k)
		if slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(lower, w) }) {
			shown[i], hidden = "--"+k+"=***", append(hidden, v)
		}
	}
	return shown, hidden
}

// hideAll replaces every non-empty secret in args by ***.
func hideAll(args, secrets []string) []string {
	out := slices.Clone(args)
	for i := range out {
		for _, s := range secrets {
			if s != "" {
				out[i] = strings.ReplaceAll(out[i], s, "***")
			}
		}
	}
	return out
}
