// Package ctl is `warden ctl`, a drop-in for patronictl: the same verbs, flags, prompts,
// output and exit codes, reading the cluster from etcd and acting through the members'
// REST API. Output that patronictl draws with PrettyTable, PyYAML and json.dumps is
// reproduced byte for byte where the data allows (see docs/cli.md for the differences).
package ctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/etcd3"
)

// app is the state shared by the subcommands of one invocation.
type app struct {
	out, errw io.Writer
	prompter
	environ []string
	now     func() time.Time

	configFile string
	dcsURL     string
	insecure   bool
	settings   *settings

	// openStore is replaced in tests by an in-memory store.
	openStore func(ctx context.Context, s *settings, scope string) (dcs.Store, error)
	rest      *restClient
	// poll is how often a waiting command asks the members again; backWait bounds how
	// long a rolling restart waits for one member to be back.
	poll, backWait time.Duration
}

// Command builds `ctl` with all subcommands.
func Command(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newApp(stdin, stdout, stderr, os.Environ()).command()
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, environ []string) *app {
	return &app{
		out: stdout, errw: stderr, environ: environ, now: time.Now, poll: time.Second, backWait: 5 * time.Minute,
		prompter:  prompter{in: bufio.NewReader(stdin), out: stdout},
		openStore: openEtcd,
	}
}

func (a *app) getenv(k string) string {
	for _, kv := range a.environ {
		if key, v, ok := strings.Cut(kv, "="); ok && key == k {
			return v
		}
	}
	return ""
}

// command is `ctl`. Like click's group options, -c/-d/-k are accepted only before the
// verb, so they do not collide with the verbs' own -c (query --command) and -d (--dbname):
// the outer command parses them by hand and hands the rest to the verb tree.
func (a *app) command() *cobra.Command {
	verbs := a.verbs()
	outer := &cobra.Command{
		Use:                "ctl [-c FILE] [-d URL] [-k] VERB [ARGS]...",
		Short:              verbs.Short,
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(cmd *cobra.Command, args []string) error {
			rest, err := a.parseGlobal(args)
			if err != nil {
				return err
			}
			verbs.SetArgs(rest)
			return verbs.ExecuteContext(cmd.Context())
		},
	}
	outer.SetOut(a.out)
	outer.SetErr(a.errw)
	return outer
}

// parseGlobal consumes the group options in front of the verb.
func (a *app) parseGlobal(args []string) ([]string, error) {
	for len(args) > 0 {
		arg := args[0]
		name, value, hasValue := strings.Cut(arg, "=")
		var target *string
		switch name {
		case "-k", "--insecure":
			a.insecure = true
			args = args[1:]
			continue
		case "-c", "--config-file":
			target = &a.configFile
		case "-d", "--dcs-url", "--dcs":
			target = &a.dcsURL
		default:
			if strings.HasPrefix(arg, "-c") && len(arg) > 2 {
				a.configFile, args = arg[2:], args[1:]
				continue
			}
			if strings.HasPrefix(arg, "-d") && len(arg) > 2 {
				a.dcsURL, args = arg[2:], args[1:]
				continue
			}
			return args, nil
		}
		if !hasValue {
			if len(args) < 2 {
				return nil, fmt.Errorf("Option '%s' requires an argument.", name)
			}
			value, args = args[1], args[1:]
		}
		*target = value
		args = args[1:]
	}
	return args, nil
}

// verbs is the tree of subcommands; the global flags appear in its help only.
func (a *app) verbs() *cobra.Command {
	root := &cobra.Command{
		Use:           "ctl",
		Short:         "Control a Patroni/Warden cluster (patronictl)",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.load(cmd)
		},
	}
	var ignored string
	var ignoredBool bool
	f := root.Flags()
	f.StringVarP(&ignored, "config-file", "c", "", "Configuration file (env WARDEN_CONFIG, PATRONICTL_CONFIG_FILE); before the verb")
	f.StringVarP(&ignored, "dcs-url", "d", "", "The DCS connect url (env DCS_URL); before the verb")
	f.BoolVarP(&ignoredBool, "insecure", "k", false, "Allow connections to SSL sites without certs; before the verb")
	root.SetOut(a.out)
	root.SetErr(a.errw)
	root.AddCommand(a.listCommand(), a.topologyCommand(), a.historyCommand(), a.showConfigCommand(),
		a.editConfigCommand(), a.dsnCommand(), a.queryCommand(), a.versionCommand(), a.removeCommand(),
		a.switchoverCommand(), a.failoverCommand(), a.restartCommand(), a.reloadCommand(),
		a.reinitCommand(), a.pauseCommand(true), a.pauseCommand(false), a.flushCommand(),
		a.demoteClusterCommand(), a.promoteClusterCommand())
	return root
}

func (a *app) load(cmd *cobra.Command) error {
	path, explicit := a.configFile, a.configFile != ""
	for _, env := range []string{"WARDEN_CONFIG", "PATRONICTL_CONFIG_FILE"} {
		if path == "" {
			path = a.getenv(env)
			explicit = path != ""
		}
	}
	if path == "" {
		path = defaultConfigPath()
	}
	dcsURL := a.dcsURL
	if dcsURL == "" {
		dcsURL = a.getenv("DCS_URL")
	}
	s, err := loadSettings(path, explicit, dcsURL, a.environ)
	if err != nil {
		return err
	}
	if a.insecure {
		s.Insecure = true
	}
	a.settings = s
	a.rest, err = newRESTClient(s)
	return err
}

// openEtcd connects to the configured etcd for one cluster.
func openEtcd(ctx context.Context, s *settings, scope string) (dcs.Store, error) {
	if !s.HasDCS {
		return nil, errors.New("Can not find suitable configuration of distributed configuration store\nAvailable implementations: etcd, etcd3")
	}
	cc := etcd3.ClientConfig{Endpoints: s.Etcd.Endpoints(), Username: s.Etcd.Username, Password: s.Etcd.Password.Reveal()}
	if s.Etcd.Protocol == "https" || s.Etcd.CACert != "" || s.Etcd.Cert != "" {
		tlsCfg, err := etcd3.TLSConfig(s.Etcd.CACert, s.Etcd.Cert, s.Etcd.Key, s.Etcd.KeyPassword.Reveal())
		if err != nil {
			return nil, err
		}
		cc.TLS = tlsCfg
	}
	// The CLI never writes a member key; the name only satisfies the store's checks.
	return etcd3.New(ctx, cc, dcs.Options{Prefix: s.Namespace + scope + "/", Member: "patronictl",
		TTL: 30 * time.Second, RetryTimeout: 10 * time.Second}, slog.New(slog.DiscardHandler))
}

// clusterName is the optional CLUSTER_NAME argument, defaulting to scope.
func (a *app) clusterName(args []string) (string, error) {
	if len(args) > 0 && args[0] != "" {
		return args[0], nil
	}
	if a.settings.Scope == "" {
		return "", errors.New("Cluster name is required: pass CLUSTER_NAME or set scope in the configuration file")
	}
	return a.settings.Scope, nil
}

// withCluster opens the store for name, loads it, and runs f.
func (a *app) withCluster(ctx context.Context, name string, f func(dcs.Store, *cluster.Cluster) error) error {
	store, err := a.openStore(ctx, a.settings, name)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := store.Load(ctx)
	if err != nil {
		return err
	}
	return f(store, c)
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.out, format, args...) }
func (a *app) println(s string)                  { fmt.Fprintln(a.out, s) }

// timestamp is patronictl's timestamp(precision): microseconds cut to precision-1 digits.
func (a *app) timestamp(precision int) string {
	s := a.now().Format("2006-01-02 15:04:05.000000")
	return s[:len(s)+precision-7]
}

// warn mimics Python logging's default patronictl format on stderr.
func (a *app) warn(msg string) {
	fmt.Fprintf(a.errw, "%s - WARNING - %s\n", strings.Replace(a.now().Format("2006-01-02 15:04:05.000"), ".", ",", 1), msg)
}

func validFormat(f string) error {
	switch f {
	case "pretty", "tsv", "json", "yaml", "yml":
		return nil
	}
	return fmt.Errorf("Invalid value for '--format' / '-f': '%s' is not one of 'pretty', 'tsv', 'json', 'yaml', 'yml'.", f)
}
