package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

var otherDCS = []string{"consul", "zookeeper", "exhibitor", "kubernetes", "raft"}

// belongsUnderBootstrap explains keys people put at the top level by
// mistake; Patroni 3.0.2 ignores them there too, so Warden does not apply them.
var belongsUnderBootstrap = map[string]string{
	"dcs":            "ignored: dynamic settings belong under bootstrap: (as bootstrap.dcs); Patroni ignores a top-level dcs too",
	"initdb":         "ignored: belongs under bootstrap: (as bootstrap.initdb); Patroni ignores it at the top level too",
	"pg_hba":         "ignored: belongs under bootstrap: (bootstrap.pg_hba) or postgresql: (postgresql.pg_hba); Patroni ignores it at the top level too",
	"users":          "ignored: belongs under bootstrap: (as bootstrap.users); Patroni ignores it at the top level too",
	"post_bootstrap": "ignored: belongs under bootstrap: (as bootstrap.post_bootstrap)",
	"post_init":      "ignored: belongs under bootstrap: (as bootstrap.post_init)",
	"method":         "ignored: belongs under bootstrap: (as bootstrap.method)",
	"parameters":     "ignored: belongs under postgresql: (postgresql.parameters) or bootstrap.dcs.postgresql.parameters",
	"authentication": "ignored: belongs under postgresql: (as postgresql.authentication)",
	"ttl":            "ignored: belongs under bootstrap.dcs",
	"loop_wait":      "ignored: belongs under bootstrap.dcs",
	"retry_timeout":  "ignored: belongs under bootstrap.dcs",
}

func decode(d *diags, root map[string]any, env map[string]string) *Config {
	cfg := &Config{merged: &tree{root: root}}
	top := newSection(d, "", root, false)
	cfg.Name = required(top, "name")
	cfg.Scope = required(top, "scope")
	cfg.Namespace = normaliseNamespace(top.str("namespace"))
	cfg.Log = decodeLog(top.sub("log"))
	cfg.RestAPI = decodeRestAPI(top)
	cfg.Ctl = decodeCtl(top.sub("ctl"), cfg.RestAPI)
	cfg.Etcd = decodeEtcd(top)
	cfg.Bootstrap = decodeBootstrap(top.sub("bootstrap"))
	cfg.PostgreSQL = decodePostgreSQL(top, env)
	cfg.Watchdog = decodeWatchdog(top.sub("watchdog"))
	cfg.Tags = top.rawMap("tags")
	conflictingTags(top, cfg.Tags)
	cfg.PatroniVersion = decodeWarden(top.sub("warden"))
	top.unsupported("Citus is out of scope", "citus")
	top.unsupported("Patroni 4.1 thread settings", "thread_pool_size", "thread_stack_size")
	top.done(belongsUnderBootstrap)
	return cfg
}

// conflictingTags warns, in Patroni 4's words, when nofailover/nosync and
// failover_priority/sync_priority say different things (true with a priority above 0,
// false with one of 0 or less); the boolean tag wins, as in Patroni.
func conflictingTags(top *section, tags map[string]any) {
	for _, pair := range [][2]string{{"nofailover", "failover_priority"}, {"nosync", "sync_priority"}} {
		b, set := tags[pair[0]]
		p, err := strconv.Atoi(strings.TrimSpace(toString(tags[pair[1]])))
		if !set || tags[pair[1]] == nil || err != nil {
			continue
		}
		if on, _ := parseBool(b); on && p > 0 || !on && p <= 0 {
			top.d.warn(joinPath("tags", pair[0]), "Conflicting configuration between %s: %s and %s: %d. Defaulting to %s: %s",
				pair[0], pyValue(b), pair[1], p, pair[0], pyValue(b))
		}
	}
}

// pyValue prints a YAML scalar as Python's %s does (True, False, None).
func pyValue(v any) string {
	switch t := v.(type) {
	case bool:
		if t {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return toString(v)
}

// decodeWarden reads Warden's own section, which Patroni ignores.
func decodeWarden(s *section) int {
	v := 0
	if raw := strings.ToLower(strings.TrimSpace(s.str("patroni_version"))); raw != "" && raw != "auto" {
		major, _, _ := strings.Cut(raw, ".")
		switch n, err := strconv.Atoi(major); {
		case err == nil && n >= 1 && n <= 3:
			v = 3
		case err == nil && n == 4:
			v = 4
		default:
			s.d.fail(s.key("patroni_version"), "expected auto, 3 or 4 (or a Patroni version such as 3.0.2), got %q", raw)
		}
	}
	s.done(nil)
	return v
}

func required(s *section, k string) string {
	v := s.str(k)
	if v == "" && s.m[k] == nil {
		s.d.fail(s.key(k), "required key is missing")
	} else if strings.TrimSpace(v) == "" {
		s.d.fail(s.key(k), "must not be empty")
	}
	return v
}

// normaliseNamespace gives "/service/" for "", "service", "/service".
func normaliseNamespace(ns string) string {
	if ns == "" {
		ns = "service"
	}
	parts := strings.FieldsFunc(ns, func(r rune) bool { return r == '/' })
	if len(parts) == 0 {
		return "/"
	}
	return "/" + strings.Join(parts, "/") + "/"
}

func decodeRestAPI(top *section) RestAPI {
	if !top.has("restapi") {
		top.d.fail("restapi", "required section is missing")
	}
	s := top.sub("restapi")
	r := RestAPI{VerifyClient: "none"}
	r.Listen = required(s, "listen")
	if r.Listen != "" {
		if _, _, err := net.SplitHostPort(r.Listen); err != nil {
			s.d.fail(s.key("listen"), "expected host:port, got %q", r.Listen)
		}
	}
	r.ConnectAddress = s.str("connect_address")
	if r.ConnectAddress == "" && r.Listen != "" {
		s.d.warn(s.key("connect_address"), "missing; other members and patronictl reach this node at restapi.listen (%s)", r.Listen)
		r.ConnectAddress = r.Listen
	}
	auth := s.sub("authentication")
	r.Username = auth.str("username")
	r.Password = auth.secret("password")
	auth.done(nil)
	r.CertFile = s.str("certfile")
	r.KeyFile = s.str("keyfile")
	r.KeyFilePassword = s.secret("keyfile_password")
	r.CAFile = s.str("cafile")
	if v := strings.ToLower(s.str("verify_client")); v != "" {
		switch v {
		case "none", "optional", "required":
			r.VerifyClient = v
		default:
			s.d.fail(s.key("verify_client"), "expected none, optional or required, got %q", v)
		}
	}
	if v := s.get("allowlist"); v != nil {
		if str, ok := v.(string); ok {
			r.Allowlist = []string{str}
		} else {
			r.Allowlist = s.strList("allowlist")
		}
	}
	r.AllowlistIncludeMembers = s.boolean("allowlist_include_members", false)
	r.HTTPExtraHeaders = s.strMap("http_extra_headers")
	r.HTTPSExtraHeaders = s.strMap("https_extra_headers")
	s.unsupported("Go's TLS defaults are used", "ciphers")
	switch v := strings.ToLower(s.str("server_tokens")); v {
	case "", "original", "productonly", "minimal":
		r.ServerTokens = v
	default:
		s.d.warn(s.key("server_tokens"), "expected Minimal, ProductOnly or Original, got %q; the Server header is left as with Original", v)
	}
	s.unsupported("not needed by Go's HTTP server", "request_queue_size", "thread_pool_size")
	s.done(nil)
	return r
}

func decodeCtl(s *section, r RestAPI) Ctl {
	c := Ctl{}
	c.Insecure = s.boolean("insecure", false)
	c.CACert = s.str("cacert")
	if c.CACert == "" {
		c.CACert = r.CAFile
	}
	c.CertFile = s.str("certfile")
	c.KeyFile = s.str("keyfile")
	c.KeyFilePassword = s.secret("keyfile_password")
	auth := s.sub("authentication")
	c.Username = auth.str("username")
	c.Password = auth.secret("password")
	auth.done(nil)
	if !s.has("authentication") {
		c.Username, c.Password = r.Username, r.Password
	}
	s.done(nil)
	return c
}

func decodeWatchdog(s *section) Watchdog {
	w := Watchdog{Mode: "automatic", Driver: "default", Device: "/dev/watchdog", SafetyMargin: 5 * time.Second}
	if v := s.get("mode"); v != nil {
		mode := strings.ToLower(toString(v))
		if b, ok := v.(bool); ok && !b {
			mode = "off"
		}
		switch mode {
		case "off", "disable", "disabled":
			w.Mode = "off"
		case "automatic", "auto":
			w.Mode = "automatic"
		case "required", "require":
			w.Mode = "required"
		default:
			s.d.warn(s.key("mode"), "unknown watchdog mode %s (off, automatic, required); using off", describe("mode", v))
			w.Mode = "off"
		}
	}
	if dev := s.str("device"); dev != "" {
		w.Device = dev
	}
	w.SafetyMargin = s.seconds("safety_margin", w.SafetyMargin)
	if w.SafetyMargin < -time.Second {
		s.d.fail(s.key("safety_margin"), "must be -1 (ttl/2) or at least 0, got %d", int64(w.SafetyMargin/time.Second))
	}
	switch drv := strings.ToLower(s.str("driver")); drv {
	case "", "default":
	case "testing":
		w.Driver = "testing"
	default:
		s.d.warn(s.key("driver"), "unknown watchdog driver %q (default, testing): no watchdog device is used", drv)
		w.Driver = "none"
	}
	s.done(nil)
	return w
}

// splitHostPort splits like Patroni's rsplit(':', 1): the part after the
// last colon is the port when it is numeric.
func splitHostPort(addr string) (host string, port int, hasPort bool, err error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, 0, false, nil
	}
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return addr, 0, false, errBadPort
	}
	return strings.Trim(addr[:i], "[]"), p, true, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errBadPort = constError("bad port")
