// Package config turns a Patroni configuration (YAML file or directory,
// PATRONI_* environment variables) into a typed Config.
//
// Loading never touches the network and never requires the paths named
// in the file to exist. Every key Warden does not act on is reported as a
// Warning with its line; problems that make the node unusable (bad YAML,
// wrong types, missing required keys, an unsupported DCS, inconsistent
// timings) are Errors. Passwords are Secret values that never print.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Config is the local configuration of one Warden node.
type Config struct {
	Path       string
	Scope      string
	Namespace  string // always with leading and trailing slash, default "/service/"
	Name       string
	Log        Log
	RestAPI    RestAPI
	Ctl        Ctl
	Etcd       Etcd
	Bootstrap  Bootstrap
	PostgreSQL PostgreSQL
	Watchdog   Watchdog
	Tags       map[string]any
	// PatroniVersion is the Patroni major version whose words the node speaks
	// (warden.patroni_version): 3 or 4, 0 to follow the cluster's member keys.
	PatroniVersion int

	// merged is the configuration tree after merging files and
	// environment, kept for Redacted. It holds plain passwords, so it sits
	// behind a pointer: fmt prints nested pointers as addresses.
	merged *tree
}

type tree struct{ root map[string]any }

// RestAPI is the restapi section.
type RestAPI struct {
	Listen                  string
	ConnectAddress          string
	Username                string
	Password                Secret
	CertFile, KeyFile       string
	KeyFilePassword         Secret
	CAFile                  string
	VerifyClient            string // none (default), optional, required
	Allowlist               []string
	AllowlistIncludeMembers bool
	HTTPExtraHeaders        map[string]string
	HTTPSExtraHeaders       map[string]string
	// ServerTokens is Patroni 4.1's server_tokens, lower-cased: "original" (or ""),
	// "productonly" or "minimal".
	ServerTokens string
}

// Ctl is the ctl section, used by the CLI and by inter-node HTTP calls.
type Ctl struct {
	Insecure          bool
	CACert            string // falls back to restapi.cafile
	CertFile, KeyFile string
	KeyFilePassword   Secret
	Username          string // falls back to restapi.authentication
	Password          Secret
}

// Etcd is the etcd or etcd3 section; both are spoken to over the v3 API.
type Etcd struct {
	Section           string   // "etcd" or "etcd3", whichever was written
	Hosts             []string // host:port
	Protocol          string   // http (default) or https
	Username          string
	Password          Secret
	CACert, Cert, Key string
	KeyPassword       Secret // decrypts an encrypted key
	URL               string // url or proxy as written, without credentials
	UseProxies        bool
}

// Endpoints returns the client URLs, e.g. "https://etcd1:2379".
func (e Etcd) Endpoints() []string {
	out := make([]string, len(e.Hosts))
	for i, h := range e.Hosts {
		out[i] = e.Protocol + "://" + h
	}
	return out
}

// Bootstrap is the bootstrap section.
type Bootstrap struct {
	DCS     map[string]any // as written, for the DCS config key
	Dynamic Dynamic        // DCS parsed, with defaults
	// Method is a custom bootstrap method name; "" means initdb.
	Method string
	// MethodConfig is bootstrap.<Method> as written (command, no_params,
	// keep_existing_recovery_conf, recovery_conf).
	MethodConfig map[string]any
	// Custom is the custom bootstrap method replacing initdb; nil means initdb.
	Custom        *BootstrapMethod
	InitDB        []string // initdb flags, e.g. "--encoding=UTF8", "--data-checksums"
	PgHBA         []string
	Users         map[string]User
	PostBootstrap string
}

// BootstrapMethod is bootstrap.<method> of a custom bootstrap (Patroni's
// _custom_bootstrap).
type BootstrapMethod struct {
	Name    string
	Command string
	// NoParams: do not append --scope=... --datadir=....
	NoParams bool
	// KeepExistingRecoveryConf keeps the recovery settings the command left when
	// RecoveryConf is nil.
	KeepExistingRecoveryConf bool
	// RecoveryConf (nil: not set) is written as recovery parameters after the command.
	RecoveryConf map[string]string
	// Params are the section's other keys, passed to the command as --key=value
	// (Patroni 3.1+).
	Params map[string]any
}

// User is a role created after bootstrap (Patroni 3.0 bootstrap.users).
type User struct {
	Password Secret
	Options  []string
}

// Auth is one of postgresql.authentication.{superuser,replication,rewind}.
type Auth struct {
	Username       string
	Password       Secret
	SSLMode        string
	SSLCert        string
	SSLKey         string
	SSLPassword    Secret
	SSLRootCert    string
	SSLCRL         string
	SSLCRLDir      string
	GSSEncMode     string
	ChannelBinding string
}

// PostgreSQL is the local postgresql section.
type PostgreSQL struct {
	Listen          string
	ListenAddresses string // "*" or "127.0.0.1,10.0.0.1"
	Port            int    // default 5432
	ConnectAddress  string
	ConnectHost     string
	ConnectPort     int
	ProxyAddress    string
	// DataDir is absolute: a relative data_dir is resolved against the
	// working directory at load time, as Patroni does implicitly.
	DataDir   string
	ConfigDir string // defaults to DataDir
	BinDir    string
	BinName   map[string]string // overrides of pg_ctl, initdb, postgres, ...
	PGPass    string            // default ~/pgpass, ~ expanded

	Superuser, Replication, Rewind Auth

	Parameters map[string]any
	PgHBA      []string
	PgIdent    []string

	UsePgRewind  *bool
	PgCtlTimeout time.Duration
	Callbacks    map[string]string
	PrePromote   string
	BeforeStop   string

	CreateReplicaMethods []string
	// ReplicaMethods holds postgresql.<method> for each custom method
	// named in CreateReplicaMethods, as written.
	ReplicaMethods map[string]map[string]any
	Basebackup     []string

	RemoveDataDirectoryOnRewindFailure     bool
	RemoveDataDirectoryOnDivergedTimelines bool
	UseUnixSocket                          bool
	UseUnixSocketRepl                      bool
	RecoveryConf                           map[string]any
	CustomConf                             string
}

// Watchdog is the watchdog section.
type Watchdog struct {
	Mode string // off, automatic (default), required
	// Driver is default (the Linux device), testing (Patroni's test harness: timeout
	// ioctls become writes, for a FIFO standing in for the device) or none (an unknown
	// driver: no device, as in Patroni).
	Driver string
	Device string // default /dev/watchdog
	// SafetyMargin is subtracted from ttl for the watchdog timeout;
	// negative means ttl/2 (Patroni's -1).
	SafetyMargin time.Duration
}

// Load reads path (a YAML file, or a directory whose *.yml/*.yaml files
// are deep-merged in name order; "" for none) and the PATRONI_* variables
// in environ, which win over the file. Without a path,
// PATRONI_CONFIGURATION holds the whole document and the other variables
// are ignored. The error is an *Error or several joined.
func Load(path string, environ []string) (*Config, []Warning, error) {
	return LoadChecked(path, environ, nil)
}

// LoadChecked is Load with check asked about every name under a parameters key
// (postgresql.parameters, bootstrap.dcs.postgresql.parameters, ...).
func LoadChecked(path string, environ []string, check ParameterCheck) (*Config, []Warning, error) {
	d := newDiags(nil)
	d.check = check
	env := environMap(environ)
	root, err := readSources(path, env, d)
	if err != nil {
		return nil, d.warns, err
	}
	cfg := decode(d, root, env)
	cfg.Path = path
	// Report in file order; environment variables (line 0) come first.
	sort.SliceStable(d.warns, func(i, j int) bool {
		a, b := d.warns[i], d.warns[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Line < b.Line
	})
	if len(d.errs) > 0 {
		return nil, d.warns, joinErrors(d.errs)
	}
	return cfg, d.warns, nil
}

func joinErrors(errs []*Error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

func readSources(path string, env map[string]string, d *diags) (map[string]any, error) {
	if path == "" {
		if doc := env[envPrefix+"CONFIGURATION"]; doc != "" {
			return parseYAML([]byte(doc), envPrefix+"CONFIGURATION", d)
		}
		return fromEnv(env, d), nil
	}
	files, multi, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	root := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, &Error{Message: fmt.Sprintf("read configuration: %v", err)}
		}
		source := ""
		if multi {
			source = filepath.Base(f)
		}
		m, err := parseYAML(data, source, d)
		if err != nil {
			return nil, err
		}
		deepMerge(root, m)
	}
	deepMerge(root, fromEnv(env, d))
	return root, nil
}

func configFiles(path string) ([]string, bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, &Error{Message: fmt.Sprintf("read configuration: %v", err)}
	}
	if !st.IsDir() {
		return []string{path}, false, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, false, &Error{Message: fmt.Sprintf("read configuration: %v", err)}
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".yml") && !strings.HasSuffix(n, ".yaml") {
			continue
		}
		full := filepath.Join(path, n)
		if fi, err := os.Stat(full); err == nil && fi.Mode().IsRegular() {
			files = append(files, full)
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, false, &Error{Message: fmt.Sprintf("read configuration: no *.yml or *.yaml files in %s", path)}
	}
	return files, true, nil
}
