package config

import (
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

const envPrefix = "PATRONI_"

// envKind says how an environment value is parsed (B.1).
type envKind int

const (
	envString envKind = iota
	envBool
	envInt
	envList
	envDict
)

type envTarget struct {
	path []string
	kind envKind
}

// envVars maps each fixed PATRONI_* name to where its value goes.
func envVars() map[string]envTarget {
	m := map[string]envTarget{
		"NAME":      {[]string{"name"}, envString},
		"NAMESPACE": {[]string{"namespace"}, envString},
		"SCOPE":     {[]string{"scope"}, envString},
	}
	add := func(section string, kind envKind, keys ...string) {
		for _, k := range keys {
			m[strings.ToUpper(section+"_"+k)] = envTarget{[]string{section, k}, kind}
		}
	}
	add("log", envString, "level", "traceback_level", "format", "dateformat", "dir", "type", "mode")
	add("log", envInt, "max_queue_size", "file_size", "file_num")
	add("log", envDict, "loggers", "static_fields")
	add("log", envBool, "deduplicate_heartbeat_logs")
	add("restapi", envString, "listen", "connect_address", "certfile", "keyfile", "keyfile_password",
		"cafile", "ciphers", "verify_client", "server_tokens")
	add("restapi", envDict, "http_extra_headers", "https_extra_headers")
	add("restapi", envList, "allowlist")
	add("restapi", envBool, "allowlist_include_members")
	add("restapi", envInt, "request_queue_size")
	add("ctl", envString, "cacert", "certfile", "keyfile", "keyfile_password")
	add("ctl", envBool, "insecure")
	add("warden", envString, "patroni_version")
	add("postgresql", envString, "listen", "connect_address", "proxy_address", "config_dir", "data_dir",
		"pgpass", "bin_dir")
	for _, bin := range []string{"pg_ctl", "initdb", "pg_controldata", "pg_basebackup", "postgres", "pg_isready", "pg_rewind"} {
		m["POSTGRESQL_BIN_"+strings.ToUpper(bin)] = envTarget{[]string{"postgresql", "bin_name", bin}, envString}
	}
	m["POSTGRESQL_BIN_IS_READY"] = envTarget{[]string{"postgresql", "bin_name", "pg_isready"}, envString}
	for _, section := range []string{"restapi", "ctl"} {
		for _, k := range []string{"username", "password"} {
			m[strings.ToUpper(section+"_"+k)] = envTarget{[]string{section, "authentication", k}, envString}
		}
	}
	for _, user := range []string{"superuser", "replication", "rewind"} {
		for _, k := range authKeys {
			m[strings.ToUpper(user+"_"+k)] = envTarget{[]string{"postgresql", "authentication", user, k}, envString}
		}
	}
	// Old names kept by Patroni.
	m["LOGLEVEL"] = envTarget{[]string{"log", "level"}, envString}
	m["LOGFORMAT"] = envTarget{[]string{"log", "format"}, envString}
	m["LOG_DATEFMT"] = envTarget{[]string{"log", "dateformat"}, envString}
	return m
}

var dcsEnvNames = map[string]bool{
	"ETCD": true, "ETCD3": true, "CONSUL": true, "ZOOKEEPER": true, "EXHIBITOR": true,
	"KUBERNETES": true, "CITUS": true, "RAFT": true,
}

var dcsEnvSuffixes = map[string]envKind{
	"HOST": envString, "HOSTS": envList, "PORT": envInt, "USE_PROXIES": envBool, "PROTOCOL": envString,
	"SRV": envString, "SRV_SUFFIX": envString, "URL": envString, "PROXY": envString, "CACERT": envString,
	"CERT": envString, "KEY": envString, "VERIFY": envBool, "TOKEN": envString, "CHECKS": envList,
	"DC": envString, "CONSISTENCY": envString, "REGISTER_SERVICE": envBool,
	"SERVICE_CHECK_INTERVAL": envString, "SERVICE_CHECK_TLS_SERVER_NAME": envString,
	"SERVICE_TAGS": envList, "NAMESPACE": envString, "CONTEXT": envString, "USE_ENDPOINTS": envBool,
	"SCOPE_LABEL": envString, "ROLE_LABEL": envString, "POD_IP": envString, "PORTS": envList,
	"LABELS": envDict, "BYPASS_API_SERVICE": envBool, "RETRIABLE_HTTP_CODES": envList,
	"KEY_PASSWORD": envString, "USE_SSL": envBool, "SET_ACLS": envDict, "GROUP": envInt,
	"DATABASE": envString, "SELF_ADDR": envString, "BIND_ADDR": envString, "PARTNER_ADDRS": envList,
	"DATA_DIR": envString,
}

// environMap turns os.Environ-style pairs into a map (last wins).
func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// fromEnv builds the configuration tree described by PATRONI_* variables
// (B.1). Positions name the variable so messages point at it; values are
// never put into messages because some are passwords.
func fromEnv(env map[string]string, d *diags) map[string]any {
	root := map[string]any{}
	vars := envVars()
	names := make([]string, 0, len(env))
	for k := range env {
		// Empty values are ignored entirely, as in Patroni.
		if strings.HasPrefix(k, envPrefix) && env[k] != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	dcsSeen := map[string]bool{}
	var leftovers []string
	for _, name := range names {
		rest := strings.TrimPrefix(name, envPrefix)
		value := env[name]
		if rest == "CONFIGURATION" {
			continue
		}
		if t, ok := vars[rest]; ok {
			if t.path[0] == "log" && (rest == "LOGLEVEL" || rest == "LOGFORMAT" || rest == "LOG_DATEFMT") {
				if _, newer := env[envPrefix+"LOG_"+strings.ToUpper(t.path[1])]; newer {
					continue
				}
			}
			setEnv(root, t.path, name, value, t.kind, d)
			continue
		}
		dcs, suffix, _ := strings.Cut(rest, "_")
		if kind, ok := dcsEnvSuffixes[suffix]; ok && dcsEnvNames[dcs] {
			if setEnv(root, []string{strings.ToLower(dcs), strings.ToLower(suffix)}, name, value, kind, d) {
				dcsSeen[dcs] = true
			}
			continue
		}
		leftovers = append(leftovers, name)
	}
	for _, name := range leftovers {
		rest := strings.TrimPrefix(name, envPrefix)
		dcs, suffix, _ := strings.Cut(rest, "_")
		if (dcs == "ETCD" || dcs == "ETCD3") && (suffix == "USERNAME" || suffix == "PASSWORD") {
			if dcsSeen[dcs] {
				setEnv(root, []string{strings.ToLower(dcs), strings.ToLower(suffix)}, name, env[name], envString, d)
			} else {
				d.pos[name] = pos{source: name}
				d.warn(name, "ignored: Patroni reads it only when another %s%s_* variable is set", envPrefix, dcs)
			}
			continue
		}
		d.pos[name] = pos{source: name}
		if strings.HasSuffix(name, "_PASSWORD") || strings.HasSuffix(name, "_OPTIONS") {
			d.warn(name, "ignored: creating bootstrap users from PATRONI_<USER>_PASSWORD (Patroni 3.0 only) is not supported; create roles in post_bootstrap")
			continue
		}
		d.warn(name, "unknown environment variable, ignored")
	}
	return root
}

// setEnv stores one parsed value; empty values are ignored, as in Patroni.
func setEnv(root map[string]any, path []string, name, raw string, kind envKind, d *diags) bool {
	if raw == "" {
		return false
	}
	key := strings.Join(path, ".")
	d.pos[key] = pos{source: name}
	var v any = raw
	switch kind {
	case envBool:
		b, ok := parseBool(raw)
		if !ok {
			d.warn(key, "not a boolean (on/off, true/false, yes/no, 1/0), ignored")
			return false
		}
		v = b
	case envInt:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			d.warn(key, "not an integer, ignored")
			return false
		}
		v = n
	case envList:
		if !strings.HasPrefix(strings.TrimSpace(raw), "-") && !strings.Contains(raw, "[") {
			raw = "[" + raw + "]"
		}
		var l []any
		if err := yaml.Unmarshal([]byte(raw), &l); err != nil || len(l) == 0 {
			d.warn(key, "not a list, ignored")
			return false
		}
		v = l
	case envDict:
		if !strings.HasPrefix(strings.TrimSpace(raw), "{") {
			raw = "{" + raw + "}"
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(raw), &m); err != nil || len(m) == 0 {
			d.warn(key, "not a mapping, ignored")
			return false
		}
		v = m
	}
	cur := root
	for _, p := range path[:len(path)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = normalise(v)
	return true
}

// normalise converts values decoded by yaml.Unmarshal into the shapes
// the tree uses (map[string]any, []any, scalars).
func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalise(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = normalise(x)
		}
		return t
	default:
		return scalarValue(t)
	}
}

// parseBool follows Patroni's parse_bool.
func parseBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case nil:
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(toString(v))) {
	case "on", "true", "yes", "1":
		return true, true
	case "off", "false", "no", "0":
		return false, true
	}
	return false, false
}

func toString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int:
		return strconv.Itoa(t)
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}
