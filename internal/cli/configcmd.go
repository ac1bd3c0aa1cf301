package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cli/ctl"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/postgres"
)

// validateOptions are Patroni 4's --validate-config flags.
type validateOptions struct {
	// print writes the merged configuration (files and environment) as YAML to stdout
	// after a successful validation (Patroni 4.1's --print), passwords masked.
	print bool
	// ignoreListenPort is Patroni 4.0's --ignore-listen-port: Warden never probes the
	// ports, so it changes nothing; it is accepted so scripts keep working.
	ignoreListenPort bool
}

func (o *validateOptions) flags(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&o.print, "print", "p", false, "with --validate-config: print the merged configuration (files and environment) as YAML, passwords masked")
	cmd.Flags().BoolVarP(&o.ignoreListenPort, "ignore-listen-port", "i", false, "with --validate-config: accepted for Patroni compatibility; Warden never checks whether the listen ports are free")
}

func validateCommand(stdout, stderr io.Writer) *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate-config [config.yml | config-dir]",
		Short: "Check a configuration without starting anything",
		Long: "validate-config loads the configuration (file, directory or PATRONI_* environment) as " +
			"`warden` would and lists every error and warning with its key and line. It exits 1 when " +
			"there is an error, 0 when there are only warnings.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return validateConfig(path, o, stdout, stderr)
		},
	}
	o.flags(cmd)
	return cmd
}

// problem is one error or warning, for printing in file order.
type problem struct {
	kind   string
	source string
	line   int
	text   string
}

// validateConfig prints each problem to stderr ("error: line 12: log.level: ...") and a
// one-line verdict: to stdout when the configuration is usable, to stderr otherwise.
// With print, a usable configuration is written to stdout as YAML and the verdict goes
// to stderr, so the output can be redirected to a file.
func validateConfig(path string, o validateOptions, stdout, stderr io.Writer) error {
	check, note := parameterCheck(path)
	cfg, warnings, err := config.LoadChecked(path, os.Environ(), check)
	if note != nil {
		warnings = append(warnings, *note)
	}
	var list []problem
	for _, w := range warnings {
		list = append(list, problem{"warning", w.Source, w.Line, w.String()})
	}
	errs := 0
	for _, e := range flattenErrors(err) {
		errs++
		var ce *config.Error
		if errors.As(e, &ce) {
			list = append(list, problem{"error", ce.Source, ce.Line, ce.Error()})
		} else {
			list = append(list, problem{"error", "", 0, e.Error()})
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		return cmp.Or(cmp.Compare(list[i].source, list[j].source), cmp.Compare(list[i].line, list[j].line)) < 0
	})
	for _, p := range list {
		fmt.Fprintf(stderr, "%s: %s\n", p.kind, p.text)
	}
	name := path
	if name == "" {
		name = "configuration from the environment"
	}
	if errs > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%s: %s, %s", name, plural(errs, "error"), plural(len(warnings), "warning"))}
	}
	verdict := stdout
	if o.print {
		fmt.Fprint(stdout, ctl.DumpYAML(cfg.Redacted()))
		verdict = stderr
	}
	if len(warnings) > 0 {
		fmt.Fprintf(verdict, "%s: OK (%s)\n", name, plural(len(warnings), "warning"))
	} else {
		fmt.Fprintf(verdict, "%s: OK\n", name)
	}
	return nil
}

func flattenErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func generateCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "generate-config [output.yml]",
		Aliases: []string{"generate-sample-config"},
		Short:   "Write a documented sample configuration",
		Long: "generate-config writes a sample configuration in Patroni's format, filled with this " +
			"host's name and address, to the file given or to stdout. Values to fill in are marked " +
			"'#FIXME'. `warden validate-config` accepts it as written.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			out := ""
			if len(args) == 1 {
				out = args[0]
			}
			return generateConfig(out, stdout)
		},
	}
}

func generateConfig(out string, stdout io.Writer) error {
	sample := config.Sample(sampleHost())
	if out == "" {
		_, err := io.WriteString(stdout, sample)
		return err
	}
	// 0600: once the '#FIXME' passwords are filled in, the file holds secrets.
	if err := os.WriteFile(out, []byte(sample), 0o600); err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("write the sample configuration: %w", err)}
	}
	return nil
}

// sampleHost gathers this host's name, address and PostgreSQL installation.
func sampleHost() config.SampleHost {
	h := config.SampleHost{Name: "pg1", Address: "127.0.0.1", DataDir: "/var/lib/postgresql/data"}
	if n, err := os.Hostname(); err == nil && n != "" {
		h.Name = n
	}
	if a := hostAddress(); a != "" {
		h.Address = a
	}
	if bin, version := postgresBinDir(); bin != "" {
		h.BinDir = bin
		h.DataDir = filepath.Join("/var/lib/postgresql", version, "data")
	}
	return h
}

// hostAddress is the first global unicast address of an interface that is up, IPv4
// preferred: loopback would not let other members reach this node.
func hostAddress() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var v6 string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
	}
	return v6
}

// postgresBinDir finds the newest Debian-style /usr/lib/postgresql/<major>/bin.
func postgresBinDir() (dir, version string) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	best := -1
	for _, m := range matches {
		v := filepath.Base(filepath.Dir(filepath.Dir(m)))
		if n, err := strconv.Atoi(v); err == nil && n > best {
			best, dir, version = n, filepath.Dir(m), v
		}
	}
	return dir, version
}

// parameterCheck checks parameter names against the postgres binary the configuration
// names in postgresql.bin_dir (its own major's names). Without one, names are kept
// unchecked and note says so once: the agent checks them against the binaries it runs.
func parameterCheck(path string) (config.ParameterCheck, *config.Warning) {
	cfg, _, err := config.Load(path, os.Environ())
	if err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// postgres refuses to run as root: root asks the binary as the postgres user.
	cred := postgresCredential()
	tools := postgres.Tools{Runner: postgres.ExecRunner{Log: slog.New(slog.DiscardHandler), Credential: cred}, BinDir: cfg.PostgreSQL.BinDir, Owner: cred}
	gucs, err := tools.Parameters(ctx)
	if err != nil {
		return nil, &config.Warning{Key: "postgresql.bin_dir", Message: fmt.Sprintf(
			"parameter names not checked: no usable postgres binary (%v); they are kept, and the agent checks them against the binaries it runs", err)}
	}
	return func(name string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok, err := gucs.Accepts(ctx, name)
		switch {
		case err != nil:
			return fmt.Sprintf("%s is not in PostgreSQL %d's --describe-config list and could not be checked further (%v); kept", name, gucs.Major, err)
		case !ok:
			return gucs.Problem(name)
		}
		return ""
	}, nil
}

// postgresCredential is the postgres OS user's when running as root, else nil.
func postgresCredential() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
