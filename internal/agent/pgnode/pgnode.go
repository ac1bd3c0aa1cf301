// Package pgnode implements agent.Node over internal/postgres: the local PostgreSQL as
// the HA executor drives it. The postmaster is this process's child (or, after an agent
// restart, adopted through a pidfd), so its exit is seen the moment it happens.
package pgnode

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warden-ha/warden/internal/agent"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// Auth is one PostgreSQL role's credentials and client-side security options.
type Auth struct {
	User     string
	Password string
	SSL      pgconf.ClientSSL
}

// at addresses host:port (host "" : libpq's default unix socket) as this role.
func (a Auth) at(host string, port int) postgres.ConnParams {
	return postgres.ConnParams{Host: host, Port: port, User: a.User, Password: a.Password, SSL: a.SSL}
}

// Dynamic is the part of the cluster's dynamic configuration the node applies.
type Dynamic struct {
	Parameters  map[string]any
	PgHBA       []string
	PgIdent     []string
	UsePgRewind bool
	UseSlots    bool
	// LogicalSlots: permanent logical slots are configured, so replicas keep copies
	// and need hot_standby_feedback.
	LogicalSlots bool
	// TTL bounds the pre_promote and before_stop scripts.
	TTL time.Duration
	// Standby is standby_cluster's recovery settings; nil outside a standby cluster.
	Standby *Standby
}

// Standby is what a standby cluster changes in the recovery settings: the standby
// leader's slot on the remote primary, and archive settings overriding recovery_conf.
type Standby struct {
	PrimarySlotName       string
	RestoreCommand        string
	ArchiveCleanupCommand string
	// RecoveryMinApplyDelay applies to the standby leader only.
	RecoveryMinApplyDelay string
	// CreateReplicaMethods creates the standby leader from the remote; empty means
	// basebackup.
	CreateReplicaMethods []string
}

// Options describe the node; the agent builds them from the configuration.
type Options struct {
	Name, Scope     string
	DataDir         string
	ConfigDir       string
	BinDir          string
	PGPass          string
	ListenAddresses string
	Port            int
	Superuser       Auth
	Replication     Auth
	Rewind          Auth
	LocalParameters map[string]any
	LocalPgHBA      []string
	LocalPgIdent    []string
	CustomConf      string
	RecoveryConf    map[string]any
	// UseUnixSocket / UseUnixSocketRepl: the superuser's / the replication role's
	// connections to this node go through its unix socket (see localHost).
	UseUnixSocket, UseUnixSocketRepl bool
	// NoStream (tag nostream): a replica never has primary_conninfo, so one found
	// running without a WAL receiver needs no upstream to have its files rewritten.
	NoStream bool
	// UsePgRewind overrides the dynamic use_pg_rewind when set locally.
	UsePgRewind *bool
	// Dynamic returns the current dynamic configuration.
	Dynamic func() Dynamic

	InitDB       []string
	BootstrapHBA []string
	Users        map[string]UserSpec
	// Custom, when set, restores the new cluster with a command instead of initdb.
	Custom *CustomBootstrap
	// PostBootstrap is bootstrap.post_bootstrap (or post_init): run once the new
	// cluster's superuser exists, with a DSN for it as the last argument.
	PostBootstrap string

	Basebackup []string
	// ReplicaMethods is create_replica_methods in order; empty means basebackup.
	ReplicaMethods []ReplicaMethod
	// MethodSections are the postgresql.<method> sections by name, listed in
	// create_replica_methods or not: standby_cluster.create_replica_methods names them.
	MethodSections map[string]ReplicaMethod
	// PrePromote and BeforeStop are the postgresql.pre_promote and before_stop
	// command lines; empty when unset.
	PrePromote   string
	BeforeStop   string
	PgCtlTimeout time.Duration
	// RemoveDataDirectoryOnRewindFailure / OnDivergedTimelines allow re-cloning; the
	// old data directory is moved aside, never deleted.
	RemoveDataDirectoryOnRewindFailure     bool
	RemoveDataDirectoryOnDivergedTimelines bool
	// Credential runs PostgreSQL as another OS user (tests running as root).
	Credential *syscall.Credential
}

// CustomBootstrap is bootstrap.<method> of a custom bootstrap method.
type CustomBootstrap struct {
	Name, Command string
	// NoParams: --scope and --datadir are not appended.
	NoParams                 bool
	KeepExistingRecoveryConf bool
	// RecoveryConf (nil: not set) replaces the recovery settings the command left.
	RecoveryConf map[string]string
	// Params are the section's other keys, passed as --key=value sorted by key.
	Params map[string]any
}

// UserSpec is a role from bootstrap.users.
type UserSpec struct {
	Password string
	Options  []string
}

// Node is the local PostgreSQL.
type Node struct {
	opts  Options
	log   *slog.Logger
	tools postgres.Tools
	dir   postgres.DataDir
	major int
	// gucs is what the binaries in bin_dir accept (nil: they could not be asked).
	gucs  *postgres.Parameters
	exits chan struct{}

	mu   sync.Mutex
	pm   *postgres.Postmaster
	conn *postgres.Conn
	// connStale: the postmaster exited since conn was opened.
	connStale bool
	upstream  string
	leader    *cluster.Member
	// followed: leader was set by this process (nil then means "no upstream").
	followed bool
	// syncNames is synchronous_standby_names while synchronous mode owns it; syncSeeded
	// once the running primary's value was looked at after the agent started.
	syncNames  *string
	syncSeeded bool
	// sysid caches the data directory's system identifier.
	sysid string
	// unexpectedSlots and missingSlots are EnsureSlots' memory (loop goroutine only).
	unexpectedSlots map[string]time.Time
	missingSlots    string
	// unready are copied logical slots not yet known safe after a promotion, with the
	// leader slot's catalog_xmin once protection was seen (see slotready.go).
	unready map[string]*uint32
}

var _ agent.Node = (*Node)(nil)

// New checks the binaries and returns the node.
func New(opts Options, log *slog.Logger) (*Node, error) {
	if opts.PgCtlTimeout <= 0 {
		opts.PgCtlTimeout = 60 * time.Second
	}
	if opts.Dynamic == nil {
		opts.Dynamic = func() Dynamic { return Dynamic{UseSlots: true} }
	}
	runner := postgres.ExecRunner{Log: log, Credential: opts.Credential}
	n := &Node{
		opts:  opts,
		log:   log,
		tools: postgres.Tools{Runner: runner, BinDir: opts.BinDir, PassFile: opts.PGPass, Owner: opts.Credential, Timeout: opts.PgCtlTimeout},
		dir:   postgres.DataDir{Path: opts.DataDir, ConfigDir: opts.ConfigDir, Owner: opts.Credential},
		exits: make(chan struct{}, 1),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	major, err := n.tools.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgresql.bin_dir %q: %w", opts.BinDir, err)
	}
	n.major = major
	if err := n.checkDataDirMajor(); err != nil {
		return nil, err
	}
	// The binary is asked quietly: a name it does not know makes it print FATAL.
	quiet := n.tools
	quiet.Runner = postgres.ExecRunner{Log: slog.New(slog.DiscardHandler), Credential: opts.Credential}
	if n.gucs, err = quiet.Parameters(ctx); err != nil {
		log.Warn("cannot read the parameters the binaries accept; parameter names are written unchecked", "bin_dir", opts.BinDir, "err", err)
	}
	return n, nil
}

// checkDataDirMajor refuses binaries of another major than the data directory's: they
// would fail to start it, or a pg_basebackup/pg_rewind of another major would refuse it.
func (n *Node) checkDataDirMajor() error {
	data, err := n.dir.Major()
	if err != nil {
		return err
	}
	if data != 0 && data != n.major {
		return fmt.Errorf("postgresql.bin_dir %q holds PostgreSQL %d but postgresql.data_dir %q is PostgreSQL %d (PG_VERSION): point bin_dir at PostgreSQL %d's binaries, or upgrade the data directory with pg_upgrade first",
			n.opts.BinDir, n.major, n.opts.DataDir, data, data)
	}
	return nil
}

// Exits delivers a wake-up when the postmaster exits.
func (n *Node) Exits() <-chan struct{} { return n.exits }

func (n *Node) postmaster() *postgres.Postmaster {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pm
}

func (n *Node) running() *postgres.Postmaster {
	pm := n.postmaster()
	if pm == nil {
		return nil
	}
	select {
	case <-pm.Exited():
		return nil
	default:
		return pm
	}
}

func (n *Node) watch(pm *postgres.Postmaster) {
	n.mu.Lock()
	n.pm = pm
	n.mu.Unlock()
	go func() {
		<-pm.Exited()
		// The loop goroutine owns the cached connection: mark it, it closes it.
		n.mu.Lock()
		n.connStale = true
		n.mu.Unlock()
		select {
		case n.exits <- struct{}{}:
		default:
		}
	}()
}

// setLeader remembers the member the recovery configuration points at (nil: none).
func (n *Node) setLeader(m *cluster.Member) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.upstream, n.leader, n.followed = nameOf(m), nil, true
	if m != nil {
		copied := *m
		n.leader = &copied
	}
}

// localConnParams address the local server as the superuser.
func (n *Node) localConnParams() postgres.ConnParams {
	return n.opts.Superuser.at(n.localHost(n.opts.UseUnixSocket), n.opts.Port)
}

// localReplicationParams address the local server as the replication role.
func (n *Node) localReplicationParams() postgres.ConnParams {
	return n.opts.Replication.at(n.localHost(n.opts.UseUnixSocketRepl), n.opts.Port)
}

// localHost is where this node reaches its own server, as Patroni resolves it.
func (n *Node) localHost(socket bool) string {
	dirs, set := "", false
	if socket {
		for k, v := range n.merged().Parameters {
			if strings.EqualFold(k, "unix_socket_directories") {
				dirs, set = v, true
			}
		}
	}
	return pgconf.LocalHost(n.opts.ListenAddresses, dirs, set, socket)
}

// dedicatedConn opens a connection for one long action; the cached one belongs to the
// HA loop goroutine (pgx connections are not safe for concurrent use).
func (n *Node) dedicatedConn(ctx context.Context) (*postgres.Conn, error) {
	return postgres.Connect(ctx, n.localConnParams())
}

// localConn returns the HA loop's cached connection to the local server, connecting
// when needed. Only the loop goroutine (Observe, EnsureSlots) may use it.
func (n *Node) localConn(ctx context.Context) (*postgres.Conn, error) {
	n.mu.Lock()
	c, stale := n.conn, n.connStale
	n.connStale = false
	n.mu.Unlock()
	if c != nil && stale {
		n.closeConn()
		c = nil
	}
	if c != nil {
		return c, nil
	}
	c, err := postgres.Connect(ctx, n.localConnParams())
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.conn = c
	n.mu.Unlock()
	return c, nil
}

func (n *Node) closeConn() {
	n.mu.Lock()
	c := n.conn
	n.conn = nil
	n.mu.Unlock()
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(ctx)
	}
}

func (n *Node) startOptions(params map[string]string) postgres.StartOptions {
	return postgres.StartOptions{
		BinDir: n.opts.BinDir, DataDir: n.opts.DataDir, ConfigFile: n.dir.ConfFile(),
		Options: pgconf.CommandLineOptions(params, n.major), Credential: n.opts.Credential, Log: n.log,
		ReadyConnString: n.readyConnString(),
	}
}

// readyConnString probes without credentials: any answer from the server, even a
// refusal, means it is up.
func (n *Node) readyConnString() string {
	p := n.localConnParams()
	return postgres.ConnParams{Host: p.Host, Port: p.Port, User: p.User}.DSN() + " application_name=warden-ready"
}

// start launches the postmaster as a child and waits until it accepts connections.
func (n *Node) start(ctx context.Context, params map[string]string) error {
	if pm := n.running(); pm != nil {
		return nil
	}
	if err := n.checkDataDirMajor(); err != nil {
		return err
	}
	if _, ok := postgres.FindRunning(n.opts.DataDir); ok {
		return fmt.Errorf("start postgres: %w", postgres.ErrAlreadyRunning)
	}
	wctx, wcancel := context.WithTimeout(ctx, n.opts.PgCtlTimeout)
	err := postgres.WaitShmemDetached(wctx, n.opts.DataDir, func(id, attached int) {
		n.log.Info("waiting for the previous postmaster's processes to leave its shared memory", "shmid", id, "attached", attached)
	})
	wcancel()
	if err != nil {
		return err
	}
	if _, err := postgres.RemoveStalePidFile(n.opts.DataDir); err != nil {
		return err
	}
	if n.standbyConfigured() {
		params = n.raiseForStandby(ctx, params)
	}
	pm, err := postgres.Start(ctx, n.startOptions(params))
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	n.watch(pm)
	wctx, cancel := context.WithTimeout(ctx, n.opts.PgCtlTimeout)
	defer cancel()
	if err := pm.WaitReady(wctx); err != nil {
		return fmt.Errorf("wait for postgres to accept connections: %w", err)
	}
	return nil
}

// standbyConfigured: the data directory starts in recovery (standby.signal, the
// recovery.signal of a restored backup, or recovery.conf before PostgreSQL 12).
func (n *Node) standbyConfigured() bool {
	for _, f := range []string{"standby.signal", "recovery.signal", "recovery.conf"} {
		if fileExists(filepath.Join(n.opts.DataDir, f)) {
			return true
		}
	}
	return false
}

// raiseForStandby starts a standby with max(configured, primary's) for the parameters
// PostgreSQL requires to be at least the primary's, as recorded in pg_control: with a
// lower value it would refuse to start. The configured value stays in postgresql.conf,
// so pending_restart shows the difference until the primary runs with it.
func (n *Node) raiseForStandby(ctx context.Context, params map[string]string) map[string]string {
	cd, err := n.tools.ControlData(ctx, n.opts.DataDir)
	if err != nil {
		n.log.Warn("could not read pg_controldata to check the standby's parameters against the primary's", "err", err)
		return params
	}
	short := pgconf.StandbyShortfalls(params, cd, n.major)
	if len(short) == 0 {
		return params
	}
	for _, s := range short {
		n.log.Warn(fmt.Sprintf("starting the standby with %s=%d, the primary's value in pg_controldata: the configured %d is lower and PostgreSQL would refuse to start", s.Name, s.Primary, s.Value))
	}
	return pgconf.RaiseForStandby(params, short)
}

func stopMode(mode string) postgres.StopMode {
	switch mode {
	case "immediate":
		return postgres.StopImmediate
	case "smart":
		return postgres.StopSmart
	}
	return postgres.StopFast
}

func strParams(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch t := v.(type) {
		case bool:
			if t {
				out[k] = "on"
			} else {
				out[k] = "off"
			}
		case nil:
		default:
			out[k] = fmt.Sprint(t)
		}
	}
	return out
}

func (n *Node) usePgRewind() bool {
	if n.opts.UsePgRewind != nil {
		return *n.opts.UsePgRewind
	}
	return n.opts.Dynamic().UsePgRewind
}

// memberAddress returns host and port from a member's conn_url.
func memberAddress(m cluster.Member) (string, int, error) {
	host, port := m.HostPort()
	if host == "" {
		return "", 0, fmt.Errorf("member %s has no usable conn_url %q", m.Name, m.ConnURL)
	}
	return host, port, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
