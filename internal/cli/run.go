package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ha/warden/internal/agent"
	"github.com/warden-ha/warden/internal/agent/pgnode"
	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/etcd3"
	"github.com/warden-ha/warden/internal/fence"
	"github.com/warden-ha/warden/internal/keypair"
	"github.com/warden-ha/warden/internal/procmem"
	"github.com/warden-ha/warden/internal/watchdog"
)

func runAgent(parent context.Context, path string, stderr io.Writer) error {
	if os.Geteuid() == 0 {
		return &ExitError{Code: 1, Err: errors.New("refusing to run as root: PostgreSQL refuses to run as root and Warden manages it as its own child process; run Warden as the postgres user, e.g. `sudo -u postgres warden " + path + "`")}
	}
	cfg, warnings, err := config.Load(path, os.Environ())
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	logs, err := openLog(stderr, cfg.Log)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	defer logs.Close()
	log := logs.Logger
	for _, w := range warnings {
		log.Warn(w.String())
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if cfg.Etcd.Section == "etcd" {
		log.Info("the etcd: section is served over the etcd v3 API (the v2 API is gone from current etcd); rename it to etcd3: to silence this note")
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	defer store.Close()

	var a *agent.Agent
	dynamic := func() config.Dynamic {
		if a == nil {
			return cfg.Bootstrap.Dynamic
		}
		return a.Dynamic()
	}
	node, err := pgnode.New(pgnodeOptions(cfg, dynamic), log)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	serverTLS, serverCert, err := api.ServerTLS(api.TLSFiles{CertFile: cfg.RestAPI.CertFile, KeyFile: cfg.RestAPI.KeyFile,
		KeyPassword: cfg.RestAPI.KeyFilePassword.Reveal(), CAFile: cfg.RestAPI.CAFile, VerifyClient: cfg.RestAPI.VerifyClient})
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	allowlist, err := api.ParseAllowlist(cfg.RestAPI.Allowlist)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	clientTLS, err := ctlTLS(cfg)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	peers := client.New(client.Options{Timeout: 2 * time.Second, TLS: clientTLS, Username: cfg.Ctl.Username, Password: cfg.Ctl.Password.Reveal()})
	if err := ensureUniqueName(ctx, store, peers, cfg.Name, cfg.Bootstrap.Dynamic.RetryTimeout, log); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	opts := agentOptions(cfg)
	useDynamicCache(&opts, cfg.PostgreSQL.DataDir, log)
	if opts.Callbacks, err = callbackRunner(cfg, log); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	registry := prometheus.NewRegistry()
	opts.Metrics = registry
	opts.Reload = func(ctx context.Context) error {
		fresh, warnings, err := config.Load(path, os.Environ())
		if err != nil {
			return err
		}
		for _, w := range warnings {
			log.Warn(w.String())
		}
		logs.reload(fresh.Log)
		if serverCert != nil {
			// A renewed certificate is served from the next handshake; the listener stays.
			if err := serverCert.Reload(); err != nil {
				return err
			}
		}
		node.SetLocal(pgnode.Local{Parameters: fresh.PostgreSQL.Parameters, PgHBA: fresh.PostgreSQL.PgHBA, PgIdent: fresh.PostgreSQL.PgIdent})
		opts.Watchdog.SetConfig(watchdogConfig(fresh.Watchdog))
		return node.ReloadConfig(ctx)
	}
	if cfg.Watchdog.Mode != "off" {
		exe, err := os.Executable()
		if err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("find the warden binary for the fencing process: %w", err)}
		}
		fp, err := fence.Start(exe, cfg.PostgreSQL.DataDir, stderr)
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		defer fp.Close()
		opts.Fence = fp
		log.Info("fencing process started: it stops PostgreSQL if this agent stops refreshing the leader lease (set watchdog.mode: off to disable)", "pid", fp.Pid())
	}
	if opts.Watchdog, err = watchdogFor(cfg.Watchdog, log); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	opts.Settled = procmem.Release
	a = agent.New(opts, store, node, peers, log)
	go reloadOnSIGHUP(ctx, a, log)

	srv := api.New(a, api.Options{
		Listen: cfg.RestAPI.Listen, DCSTimeout: cfg.Bootstrap.Dynamic.RetryTimeout, Controller: a,
		Username: cfg.RestAPI.Username, Password: cfg.RestAPI.Password.Reveal(), Registry: registry,
		TLS: serverTLS, Allowlist: allowlist, AllowlistIncludeMembers: cfg.RestAPI.AllowlistIncludeMembers,
		ExtraHeaders: extraHeaders(cfg, serverTLS != nil),
	}, log)
	if err := srv.Listen(); err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("restapi.listen: %w", err)}
	}
	apiDone := make(chan error, 1)
	apiCtx, apiCancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() { apiDone <- srv.Serve(apiCtx) }()

	log.Info("starting warden", "name", cfg.Name, "scope", cfg.Scope, "api", cfg.RestAPI.Listen, "dcs", strings.Join(cfg.Etcd.Hosts, ","))
	runErr := a.Run(ctx)
	apiCancel()
	if err := <-apiDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("REST API stopped with an error", "err", err)
	}
	if runErr != nil {
		return &ExitError{Code: 1, Err: runErr}
	}
	return nil
}

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (dcs.Store, error) {
	cc := etcd3.ClientConfig{Username: cfg.Etcd.Username, Password: cfg.Etcd.Password.Reveal()}
	scheme := cfg.Etcd.Protocol
	if scheme == "" {
		scheme = "http"
	}
	for _, h := range cfg.Etcd.Hosts {
		if strings.Contains(h, "://") {
			cc.Endpoints = append(cc.Endpoints, h)
		} else {
			cc.Endpoints = append(cc.Endpoints, scheme+"://"+h)
		}
	}
	if scheme == "https" || cfg.Etcd.CACert != "" || cfg.Etcd.Cert != "" {
		tlsCfg, err := etcd3.TLSConfig(cfg.Etcd.CACert, cfg.Etcd.Cert, cfg.Etcd.Key, cfg.Etcd.KeyPassword.Reveal())
		if err != nil {
			return nil, err
		}
		cc.TLS = tlsCfg
	}
	d := cfg.Bootstrap.Dynamic
	opts := dcs.Options{
		Prefix:       prefix(cfg.Namespace, cfg.Scope),
		Member:       cfg.Name,
		TTL:          d.TTL,
		RetryTimeout: d.RetryTimeout,
	}
	return etcd3.New(ctx, cc, opts, log)
}

// prefix is Patroni's base path /<namespace>/<scope>/ with duplicate slashes removed.
func prefix(namespace, scope string) string {
	p := filepath.Clean("/" + namespace + "/" + scope)
	return p + "/"
}

func agentOptions(cfg *config.Config) agent.Options {
	return agent.Options{
		Name:         cfg.Name,
		Scope:        cfg.Scope,
		ConnURL:      "postgres://" + cfg.PostgreSQL.ConnectAddress + "/postgres",
		APIURL:       apiScheme(cfg) + "://" + cfg.RestAPI.ConnectAddress + "/patroni",
		Tags:         cfg.Tags,
		BootstrapDCS: cfg.Bootstrap.DCS,
		CanBootstrap: true,
		Dynamic:      cfg.Bootstrap.Dynamic,
		UsePgRewind:  cfg.PostgreSQL.UsePgRewind,

		CloneWithoutLeader:       cloneWithoutLeader(cfg.PostgreSQL),
		DeduplicateHeartbeatLogs: cfg.Log.DeduplicateHeartbeatLogs,
		Dialect:                  cluster.Dialect(cfg.PatroniVersion),
	}
}

// useDynamicCache starts with <data_dir>/patroni.dynamic.json as the configuration in
// force, as Patroni does, until the DCS has one; a file that cannot be used is logged
// and bootstrap.dcs stays.
func useDynamicCache(opts *agent.Options, dataDir string, log *slog.Logger) {
	opts.DataDir = dataDir
	raw, d, ok, err := agent.LoadDynamicCache(dataDir)
	if err != nil {
		log.Error("Exception when loading file: "+agent.DynamicCacheFile+"; using bootstrap.dcs", "err", err)
		return
	}
	if ok {
		opts.Dynamic, opts.CachedDCS = d, raw
		log.Info("loaded the dynamic configuration from "+agent.DynamicCacheFile, "ttl", d.TTL, "loop_wait", d.LoopWait, "retry_timeout", d.RetryTimeout)
	}
}

// reloadOnSIGHUP re-reads the configuration file on SIGHUP, as Patroni does.
func reloadOnSIGHUP(ctx context.Context, a *agent.Agent, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("received SIGHUP: reloading the configuration")
			a.Reload(ctx)
		}
	}
}

func apiScheme(cfg *config.Config) string {
	if cfg.RestAPI.CertFile != "" {
		return "https"
	}
	return "http"
}

func extraHeaders(cfg *config.Config, tls bool) map[string]string {
	h := map[string]string{}
	if v := api.ServerHeader(cfg.RestAPI.ServerTokens); v != "" {
		h["Server"] = v
	}
	for k, v := range cfg.RestAPI.HTTPExtraHeaders {
		h[k] = v
	}
	if tls {
		for k, v := range cfg.RestAPI.HTTPSExtraHeaders {
			h[k] = v
		}
	}
	return h
}

// ctlTLS is the TLS configuration for calls to other members' REST APIs: the ctl
// section's CA (falling back to restapi.cafile), client certificate and insecure flag.
func ctlTLS(cfg *config.Config) (*tls.Config, error) {
	c := cfg.Ctl
	if c.CACert == "" && c.CertFile == "" && !c.Insecure && cfg.RestAPI.CertFile == "" {
		return nil, nil
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure} //nolint:gosec // ctl.insecure is the user's explicit choice
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("ctl.cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ctl.cacert %s: no PEM certificate found", c.CACert)
		}
		out.RootCAs = pool
	}
	if c.CertFile != "" {
		key := c.KeyFile
		if key == "" {
			key = c.CertFile
		}
		cert, err := keypair.Load(c.CertFile, key, c.KeyFilePassword.Reveal())
		if err != nil {
			return nil, fmt.Errorf("ctl.certfile: %w", err)
		}
		out.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}

// watchdogFor builds the watchdog (inert while the mode is off, so a reload can turn it
// on). Like Patroni, a required watchdog without a driver stops the start.
func watchdogFor(w config.Watchdog, log *slog.Logger) (*watchdog.Watchdog, error) {
	if w.Driver == watchdog.DriverNone && w.Mode == watchdog.ModeRequired {
		return nil, errors.New("watchdog.driver: Configuration requires a watchdog, but watchdog is not supported on this platform")
	}
	return watchdog.New(watchdogConfig(w), nil, log.With("component", "watchdog")), nil
}

func watchdogConfig(w config.Watchdog) watchdog.Config {
	return watchdog.Config{Mode: w.Mode, Driver: w.Driver, Device: w.Device, SafetyMargin: w.SafetyMargin}
}
