package ctl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/warden-ha/warden/internal/config"
)

// settings is what the CLI takes from a Patroni configuration file. patronictl parses the
// file without validation (a patronictl.yaml usually holds only scope and the DCS), so
// config.Load, which insists on name, restapi and postgresql, is not used here.
type settings struct {
	Scope     string
	Namespace string // with leading and trailing slash
	Etcd      config.Etcd
	HasDCS    bool
	// REST client settings: ctl section with Patroni's fallbacks to restapi.
	Insecure          bool
	CACert            string
	CertFile, KeyFile string
	KeyPassword       config.Secret
	Username          string
	Password          config.Secret
}

// defaultConfigPath is click.get_app_dir('patroni')/patronictl.yaml.
func defaultConfigPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "patroni", "patronictl.yaml")
}

// loadSettings reads path (missing is fine only for the default path), applies the
// PATRONI_* variables patronictl honours for these keys, then --dcs-url.
func loadSettings(path string, explicit bool, dcsURL string, environ []string) (*settings, error) {
	root := map[string]any{}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if root == nil {
			root = map[string]any{}
		}
	case explicit:
		return nil, fmt.Errorf("Provided config file %s not existing or no read rights. Check the -c/--config-file parameter", path)
	}
	applyEnv(root, environ)
	if dcsURL != "" {
		u, err := parseDCSURL(dcsURL)
		if err != nil {
			return nil, err
		}
		delete(root, "etcd")
		root["etcd3"] = map[string]any{"hosts": u}
	}
	return decodeSettings(root)
}

// applyEnv copies the PATRONI_* variables that matter to the CLI into the tree.
func applyEnv(root map[string]any, environ []string) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	set := func(section, key, v string) {
		if section == "" {
			root[key] = v
			return
		}
		m, _ := root[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			root[section] = m
		}
		m[key] = v
	}
	for _, k := range []string{"scope", "namespace"} {
		if v, ok := env["PATRONI_"+strings.ToUpper(k)]; ok {
			set("", k, v)
		}
	}
	for _, sec := range []string{"etcd", "etcd3"} {
		for _, k := range []string{"host", "hosts", "url", "proxy", "protocol", "username", "password", "cacert", "cert", "key"} {
			if v, ok := env["PATRONI_"+strings.ToUpper(sec)+"_"+strings.ToUpper(k)]; ok {
				set(sec, k, v)
			}
		}
	}
	for _, sec := range []string{"restapi", "ctl"} {
		for _, k := range []string{"username", "password"} {
			if v, ok := env["PATRONI_"+strings.ToUpper(sec)+"_"+strings.ToUpper(k)]; ok {
				m, _ := root[sec].(map[string]any)
				if m == nil {
					m = map[string]any{}
					root[sec] = m
				}
				auth, _ := m["authentication"].(map[string]any)
				if auth == nil {
					auth = map[string]any{}
					m["authentication"] = auth
				}
				auth[k] = v
			}
		}
	}
}

// parseDCSURL follows patronictl: [scheme://][host][:port][/namespace], etcd only.
func parseDCSURL(raw string) (string, error) {
	if !strings.Contains(raw, "//") {
		raw = "//" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid dcs url: %w", err)
	}
	switch u.Scheme {
	case "", "etcd", "etcd3":
	case "consul", "zookeeper", "exhibitor":
		return "", fmt.Errorf("Unsupported dcs scheme: %s (Warden speaks etcd only)", u.Scheme)
	default:
		return "", fmt.Errorf("Unknown dcs scheme: %s", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		host = "localhost"
	}
	port := u.Port()
	if port == "" {
		port = "2379"
	}
	return net.JoinHostPort(host, port), nil
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func sub(m map[string]any, k string) map[string]any {
	s, _ := m[k].(map[string]any)
	if s == nil {
		return map[string]any{}
	}
	return s
}

func decodeSettings(root map[string]any) (*settings, error) {
	s := &settings{Scope: str(root, "scope"), Namespace: normaliseNamespace(str(root, "namespace"))}
	sec := "etcd3"
	if _, ok := root["etcd3"]; !ok {
		sec = "etcd"
	}
	if e, ok := root[sec].(map[string]any); ok {
		etcd, err := decodeEtcd(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sec, err)
		}
		s.Etcd, s.HasDCS = etcd, true
	}
	ctlSec, rest := sub(root, "ctl"), sub(root, "restapi")
	s.Insecure = truthy(ctlSec["insecure"])
	s.CACert = firstNonEmpty(str(ctlSec, "cacert"), str(rest, "cafile"))
	s.CertFile = firstNonEmpty(str(ctlSec, "certfile"), str(rest, "certfile"))
	s.KeyFile = firstNonEmpty(str(ctlSec, "keyfile"), str(rest, "keyfile"))
	s.KeyPassword = config.Secret(firstNonEmpty(str(ctlSec, "keyfile_password"), str(rest, "keyfile_password")))
	auth := sub(ctlSec, "authentication")
	if len(auth) == 0 {
		auth = sub(rest, "authentication")
	}
	s.Username, s.Password = str(auth, "username"), config.Secret(str(auth, "password"))
	return s, nil
}

func decodeEtcd(e map[string]any) (config.Etcd, error) {
	out := config.Etcd{Protocol: "http", Username: str(e, "username"), Password: config.Secret(str(e, "password")),
		CACert: str(e, "cacert"), Cert: str(e, "cert"), Key: str(e, "key"), KeyPassword: config.Secret(str(e, "key_password"))}
	if p := strings.ToLower(str(e, "protocol")); p != "" {
		out.Protocol = p
	}
	port := 2379
	if p, err := strconv.Atoi(str(e, "port")); err == nil && p > 0 {
		port = p
	}
	var hosts []string
	switch {
	case str(e, "proxy") != "" || str(e, "url") != "":
		raw := firstNonEmpty(str(e, "proxy"), str(e, "url"))
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return out, errors.New("expected url http(s)://[user:password@]host[:port]")
		}
		out.Protocol = u.Scheme
		if u.User != nil {
			out.Username = u.User.Username()
			pw, _ := u.User.Password()
			out.Password = config.Secret(pw)
		}
		hosts = []string{u.Host}
	case e["hosts"] != nil:
		switch v := e["hosts"].(type) {
		case string:
			hosts = strings.Split(v, ",")
		case []any:
			for _, h := range v {
				hosts = append(hosts, fmt.Sprint(h))
			}
		}
	case str(e, "host") != "":
		hosts = []string{str(e, "host")}
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.Contains(h, "://") {
			if u, err := url.Parse(h); err == nil {
				out.Protocol, h = u.Scheme, u.Host
			}
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, strconv.Itoa(port))
		}
		out.Hosts = append(out.Hosts, h)
	}
	if len(out.Hosts) == 0 {
		return out, errors.New("no etcd endpoint: set hosts, host, url or proxy")
	}
	return out, nil
}

func normaliseNamespace(ns string) string {
	parts := strings.FieldsFunc(ns, func(r rune) bool { return r == '/' })
	if ns == "" {
		parts = []string{"service"}
	}
	if len(parts) == 0 {
		return "/"
	}
	return "/" + strings.Join(parts, "/") + "/"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		switch strings.ToLower(t) {
		case "on", "true", "yes", "1", "y":
			return true
		}
	}
	return false
}
