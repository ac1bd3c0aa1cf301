package config

import (
	"fmt"
	"sort"
	"strings"
)

// initdbForbidden are options Patroni sets itself (A.7).
var initdbForbidden = map[string]bool{"pgdata": true, "nosync": true, "pwfile": true, "sync-only": true, "version": true}

func decodeBootstrap(s *section) Bootstrap {
	b := Bootstrap{}
	b.DCS = s.rawMap("dcs")
	if b.DCS == nil {
		b.DCS = map[string]any{}
	}
	b.Dynamic = parseDynamic(s.d, s.key("dcs"), b.DCS)
	if n := b.Dynamic.TimingsNote(); n != "" {
		s.d.warn(joinPath(s.key("dcs"), "ttl"), "%s", n)
	}
	b.Method = s.str("method")
	if b.Method == "initdb" {
		b.Method = ""
	}
	if b.Method != "" {
		b.MethodConfig = s.rawMap(b.Method)
		if b.MethodConfig == nil || b.MethodConfig["command"] == nil {
			s.d.warn(s.key("method"), "bootstrap.%s.command is not set; initdb is used, as in Patroni", b.Method)
			b.Method, b.MethodConfig = "", nil
		} else {
			b.Custom = decodeMethod(newSection(s.d, s.key(b.Method), b.MethodConfig, s.lenient), b.Method)
		}
	}
	if v := s.get("initdb"); v != nil {
		if str, ok := v.(string); ok {
			// Patroni 3.0.2 fails the bootstrap here ("initdb options must be
			// list or dict"); guessing --encoding would hide the mistake.
			s.d.warn(s.key("initdb"), "expected a list such as [{encoding: %s}, data-checksums], got the string %q; ignored (Patroni fails the bootstrap on it)", str, str)
		} else {
			b.InitDB = options(s, "initdb", initdbForbidden)
		}
	}
	b.PgHBA = s.strList("pg_hba")
	b.Users = decodeUsers(s.sub("users"))
	b.PostBootstrap = s.str("post_bootstrap")
	if b.PostBootstrap == "" {
		b.PostBootstrap = s.str("post_init")
	} else if s.has("post_init") {
		s.d.warn(s.key("post_init"), "ignored: post_bootstrap is also set and wins")
	}
	hints := map[string]string{}
	if pg, ok := s.m["postgresql"].(map[string]any); ok && b.Method != "postgresql" {
		hints["postgresql"] = "ignored: dynamic postgresql settings belong in bootstrap.dcs.postgresql (Patroni ignores bootstrap.postgresql too)"
		// Still report typos inside, so they are fixed before the move.
		ps := newSection(s.d, s.key("postgresql"), pg, true)
		parameters(ps, "parameters", false)
	}
	for _, k := range []string{"ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "synchronous_mode"} {
		hints[k] = "ignored: belongs under bootstrap.dcs"
	}
	s.done(hints)
	return b
}

// decodeMethod reads bootstrap.<method>: the keys Patroni's custom bootstrap uses.
func decodeMethod(s *section, name string) *BootstrapMethod {
	m := &BootstrapMethod{
		Name:                     name,
		Command:                  s.str("command"),
		NoParams:                 s.boolean("no_params", false),
		KeepExistingRecoveryConf: s.boolean("keep_existing_recovery_conf", false),
	}
	if s.has("recovery_conf") {
		m.RecoveryConf = s.strMap("recovery_conf")
		if m.RecoveryConf == nil {
			m.RecoveryConf = map[string]string{}
		}
	}
	if m.Command == "" {
		s.d.fail(s.key("command"), "the custom bootstrap command is empty")
	}
	reserved := map[string]string{
		"scope":   "ignored: --scope=<scope> is passed by Warden (unless no_params), as by Patroni",
		"datadir": "ignored: --datadir=<data_dir> is passed by Warden (unless no_params), as by Patroni",
	}
	for k, v := range s.m {
		if s.asked[k] || reserved[k] != "" {
			continue
		}
		switch v.(type) {
		case map[string]any, []any:
			s.d.warn(s.key(k), "expected a single value for --%s=..., got %s; ignored", k, describe(k, v))
			s.get(k)
			continue
		}
		if m.Params == nil {
			m.Params = map[string]any{}
		}
		m.Params[k] = s.get(k)
	}
	s.done(reserved)
	return m
}

func decodeUsers(s *section) map[string]User {
	if len(s.m) == 0 {
		return nil
	}
	users := map[string]User{}
	names := make([]string, 0, len(s.m))
	for n := range s.m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := s.sub(n)
		user := User{Password: u.secret("password")}
		user.Options = userOptions(u)
		u.done(nil)
		users[n] = user
	}
	return users
}

// userOptions reads CREATE ROLE options; "- replication:" (a key with no
// value, a frequent slip) is read as the bare option with a warning.
func userOptions(s *section) []string {
	v := s.get("options")
	if v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		if str, isStr := v.(string); isStr {
			return []string{str}
		}
		s.bad("options", "a list", v)
		return nil
	}
	var out []string
	for i, x := range l {
		p := fmt.Sprintf("%s[%d]", s.key("options"), i)
		switch t := x.(type) {
		case map[string]any:
			if k, val, single := singleKey(t); single && val == nil {
				s.d.warn(p, "%q: written as a mapping with no value; read as the option %s", k+":", k)
				out = append(out, k)
				continue
			}
			s.d.warn(p, "expected a role option such as createdb, got a mapping; ignored")
		case []any, nil:
			s.d.warn(p, "expected a role option such as createdb; ignored")
		default:
			out = append(out, toString(t))
		}
	}
	return out
}

func singleKey(m map[string]any) (string, any, bool) {
	if len(m) != 1 {
		return "", nil, false
	}
	for k, v := range m {
		return k, v, true
	}
	return "", nil, false
}

// options renders initdb/pg_basebackup options like Patroni's
// process_user_options: "name" -> --name, {name: value} -> --name=value,
// and a mapping form {name: value, ...}. Forbidden options are dropped
// with a warning instead of failing the bootstrap later.
func options(s *section, k string, forbidden map[string]bool) []string {
	v := s.get(k)
	path := s.key(k)
	var out []string
	add := func(p, name, value string, hasValue bool) {
		if name == "compress" && forbidden[name] {
			// pg_basebackup 15+ compresses on the server and still writes a plain data
			// directory; compression on the client would not (Patroni 4.1.1).
			if !hasValue || !strings.HasPrefix(value, "server") {
				s.d.warn(p, "only server-side compression is allowed (server-gzip, server-lz4, server-zstd; PostgreSQL 15+): the copy must be a plain data directory; removed")
				return
			}
		} else if forbidden[name] {
			s.d.warn(p, "option %s is set by Warden itself, removed", name)
			return
		}
		if hasValue {
			out = append(out, "--"+name+"="+value)
		} else {
			out = append(out, "--"+name)
		}
	}
	switch t := v.(type) {
	case nil:
		return nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for name := range t {
			keys = append(keys, name)
		}
		sort.Strings(keys)
		for _, name := range keys {
			val := t[name]
			if name == "" || !truthy(val) {
				s.d.warn(joinPath(path, name), "empty or false value, option skipped (as in Patroni)")
				continue
			}
			add(joinPath(path, name), name, toString(val), true)
		}
	case []any:
		for i, x := range t {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch o := x.(type) {
			case map[string]any:
				name, val, single := singleKey(o)
				switch {
				case !single:
					s.d.warn(p, "expected one name: value pair; ignored")
				case val == nil:
					s.d.warn(p, "%q has no value; read as the switch --%s", name+":", name)
					add(p, name, "", false)
				default:
					if _, nested := val.(map[string]any); nested {
						s.d.warn(p, "the value of %s must be a single value; ignored", name)
						continue
					}
					if _, nested := val.([]any); nested {
						s.d.warn(p, "the value of %s must be a single value; ignored", name)
						continue
					}
					add(p, name, toString(val), true)
				}
			case []any, nil:
				s.d.warn(p, "expected an option name or a name: value pair; ignored")
			default:
				add(p, toString(o), "", false)
			}
		}
	default:
		s.d.warn(path, "expected a list of options; ignored")
	}
	return out
}

// truthy is Python truthiness for scalar option values.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case int:
		return t != 0
	case float64:
		return t != 0
	}
	return true
}
