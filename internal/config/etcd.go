package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

const defaultEtcdPort = 2379

func decodeEtcd(top *section) Etcd {
	for _, name := range otherDCS {
		if top.has(name) {
			top.d.fail(name, "Warden supports etcd only: replace this section with etcd3: (hosts, protocol, username, password, cacert, cert, key)")
		}
	}
	hasV2, hasV3 := top.has("etcd"), top.has("etcd3")
	switch {
	case hasV2 && hasV3:
		top.d.fail("etcd3", "both etcd and etcd3 sections are present; keep one (Warden speaks the v3 API to either)")
		return Etcd{}
	case !hasV2 && !hasV3:
		if !hasAny(top, otherDCS) {
			top.d.fail("etcd3", "no DCS section: add etcd3: (or etcd:) with hosts")
		}
		return Etcd{}
	}
	name := "etcd3"
	if hasV2 {
		name = "etcd"
	}
	s := top.sub(name)
	e := Etcd{Section: name, Protocol: "http"}
	errsBefore := len(s.d.errs)
	if p := strings.ToLower(s.str("protocol")); p != "" {
		if p != "http" && p != "https" {
			s.d.fail(s.key("protocol"), "expected http or https, got %q", p)
		} else {
			e.Protocol = p
		}
	}
	port := int(s.integer("port", defaultEtcdPort))
	e.Username = s.str("username")
	e.Password = s.secret("password")
	e.CACert = s.str("cacert")
	e.Cert = s.str("cert")
	e.Key = s.str("key")
	e.KeyPassword = s.secret("key_password")
	e.UseProxies = s.boolean("use_proxies", false)

	switch {
	case s.has("proxy"):
		e.UseProxies = true
		etcdURL(s, "proxy", &e)
	case s.has("url"):
		etcdURL(s, "url", &e)
	case s.has("hosts"):
		for _, h := range etcdHosts(s) {
			if hp, ok := etcdHostPort(s, "hosts", h, port, &e); ok {
				e.Hosts = append(e.Hosts, hp)
			}
		}
	case s.has("host"):
		if hp, ok := etcdHostPort(s, "host", s.str("host"), port, &e); ok {
			e.Hosts = []string{hp}
		}
	}
	s.unsupported("DNS SRV discovery; list the endpoints in hosts", "srv", "srv_suffix", "discovery_srv", "srv_domain")
	// Patroni copies these from the global configuration into the section.
	for _, k := range []string{"ttl", "loop_wait", "retry_timeout", "namespace", "scope", "name"} {
		if s.has(k) {
			s.d.warn(s.key(k), "ignored: set it at the top level (or in bootstrap.dcs for timings), not in the %s section", name)
		}
	}
	// Other forms are read to avoid "unknown key" noise when several are set.
	for _, k := range []string{"host", "hosts", "url", "proxy"} {
		s.get(k)
	}
	s.done(nil)
	if len(e.Hosts) == 0 && len(s.d.errs) == errsBefore {
		s.d.fail(name, "no etcd endpoint: set hosts, host, url or proxy")
	}
	return e
}

func hasAny(s *section, keys []string) bool {
	for _, k := range keys {
		if s.has(k) {
			return true
		}
	}
	return false
}

// etcdHosts accepts a YAML list or a comma-separated string.
func etcdHosts(s *section) []string {
	if str, ok := s.get("hosts").(string); ok {
		var out []string
		for _, h := range strings.Split(str, ",") {
			if h = strings.TrimSpace(h); h != "" {
				out = append(out, h)
			}
		}
		return out
	}
	return s.strList("hosts")
}

// etcdHostPort returns host:port; a host written as a URL sets the protocol.
func etcdHostPort(s *section, k, h string, port int, e *Etcd) (string, bool) {
	h = strings.TrimSpace(h)
	if strings.Contains(h, "://") {
		u, err := url.Parse(h)
		if err != nil || u.Host == "" {
			s.d.fail(s.key(k), "cannot parse etcd address %q", h)
			return "", false
		}
		if u.Scheme == "https" || u.Scheme == "http" {
			e.Protocol = u.Scheme
		}
		h = u.Host
	}
	host, p, hasPort, err := splitHostPort(h)
	if err != nil || host == "" {
		s.d.fail(s.key(k), "expected host:port, got %q", h)
		return "", false
	}
	if !hasPort {
		p = port
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), true
}

// etcdURL reads url/proxy: http(s)://[user:pass@]host[:port].
func etcdURL(s *section, k string, e *Etcd) {
	raw := s.str(k)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		// The URL may carry a password: do not echo it.
		s.d.fail(s.key(k), "expected http(s)://[user:password@]host[:port]")
		return
	}
	e.Protocol = u.Scheme
	if u.User != nil {
		e.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			e.Password = Secret(pw)
		}
		u.User = nil
	}
	host := u.Hostname()
	port := defaultEtcdPort
	if ps := u.Port(); ps != "" {
		if port, err = strconv.Atoi(ps); err != nil {
			s.d.fail(s.key(k), "bad port in %s", k)
			return
		}
	}
	e.URL = u.String()
	e.Hosts = []string{net.JoinHostPort(host, strconv.Itoa(port))}
}
