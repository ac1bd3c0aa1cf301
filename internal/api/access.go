package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/warden-ha/warden/internal/keypair"
)

// TLSFiles are restapi.certfile/keyfile/cafile and verify_client.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
	// KeyPassword decrypts an encrypted key (restapi.keyfile_password).
	KeyPassword string
	// VerifyClient: none (default), optional (certificate checked for unsafe requests)
	// or required (every connection must present one).
	VerifyClient string
}

// Certificate holds the REST API's certificate; Reload swaps in the files' current
// content, so a renewed certificate is served without restarting the listener.
type Certificate struct {
	files TLSFiles
	cur   atomic.Pointer[tls.Certificate]
}

// Reload reads the certificate and key files again; on error the old one stays.
func (c *Certificate) Reload() error {
	cert, err := keypair.Load(c.files.CertFile, c.files.KeyFile, c.files.KeyPassword)
	if err != nil {
		return fmt.Errorf("restapi.certfile: %w", err)
	}
	c.cur.Store(&cert)
	return nil
}

func (c *Certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// ServerTLS builds the REST API's TLS configuration (TLS 1.2 minimum) and the reloadable
// certificate behind it; nil, nil when no certificate is configured. Errors name the file
// and the reason.
func ServerTLS(f TLSFiles) (*tls.Config, *Certificate, error) {
	if f.CertFile == "" {
		return nil, nil, nil
	}
	certificate := &Certificate{files: f}
	if err := certificate.Reload(); err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certificate.get}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("restapi.cafile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("restapi.cafile %s: no PEM certificate found", f.CAFile)
		}
		cfg.ClientCAs = pool
	}
	switch strings.ToLower(f.VerifyClient) {
	case "", "none":
	case "optional":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, nil, fmt.Errorf("restapi.verify_client: %q is not none, optional or required", f.VerifyClient)
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCAs == nil {
		return nil, nil, fmt.Errorf("restapi.verify_client %s needs restapi.cafile to verify client certificates", f.VerifyClient)
	}
	return cfg, certificate, nil
}

// Allowlist is restapi.allowlist resolved to networks.
type Allowlist []*net.IPNet

// ParseAllowlist resolves hostnames, IPs and CIDRs; an empty list allows everyone.
func ParseAllowlist(entries []string) (Allowlist, error) {
	var out Allowlist
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if _, n, err := net.ParseCIDR(e); err == nil {
			out = append(out, n)
			continue
		}
		if ip := net.ParseIP(e); ip != nil {
			out = append(out, single(ip))
			continue
		}
		ips, err := net.LookupIP(e)
		if err != nil {
			return nil, fmt.Errorf("restapi.allowlist: %s: %w", e, err)
		}
		for _, ip := range ips {
			out = append(out, single(ip))
		}
	}
	return out, nil
}

func single(ip net.IP) *net.IPNet {
	bits := 128
	if v4 := ip.To4(); v4 != nil {
		ip, bits = v4, 32
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
}

func (a Allowlist) allows(remoteAddr string) bool {
	if len(a) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range a {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

type tlsConnKey struct{}

// connContext keeps the *tls.Conn reachable from handlers: the request-line fixer
// wraps it, so net/http cannot fill r.TLS.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*requestLineConn); ok {
		if tc, ok := rc.Conn.(*tls.Conn); ok {
			return context.WithValue(ctx, tlsConnKey{}, tc)
		}
	}
	return ctx
}

func peerCertificates(r *http.Request) []*x509.Certificate {
	if r.TLS != nil {
		return r.TLS.PeerCertificates
	}
	if tc, ok := r.Context().Value(tlsConnKey{}).(*tls.Conn); ok {
		return tc.ConnectionState().PeerCertificates
	}
	return nil
}

// accessAllowed applies Patroni's order for unsafe requests: allowlist (403), client
// certificate (403), then Basic authentication (401). checkMembers is false for POST
// /failsafe, which a primary sends when the DCS, where the members are listed, is out
// of reach (Patroni 4.0 ignores allowlist_include_members there too).
func (s *Server) accessAllowed(w http.ResponseWriter, r *http.Request, checkMembers bool) bool {
	if !s.sourceAllowed(r, checkMembers) {
		writeText(w, http.StatusForbidden, "Access is denied\n")
		return false
	}
	if s.opts.TLS != nil && s.opts.TLS.ClientAuth != tls.NoClientCert && len(peerCertificates(r)) == 0 {
		writeText(w, http.StatusForbidden, "client certificate required\n")
		return false
	}
	return s.authorized(w, r)
}

// sourceAllowed: as in Patroni, once restapi.allowlist or allowlist_include_members is
// in force, only the addresses they name may call unsafe endpoints.
func (s *Server) sourceAllowed(r *http.Request, checkMembers bool) bool {
	checkMembers = checkMembers && s.opts.AllowlistIncludeMembers
	if len(s.opts.Allowlist) == 0 && !checkMembers {
		return true
	}
	if len(s.opts.Allowlist) > 0 && s.opts.Allowlist.allows(r.RemoteAddr) {
		return true
	}
	return checkMembers && s.memberAddress(r)
}

// memberAddress: with allowlist_include_members, a request from the host of any
// member's api_url is allowed too (read from the DCS: unsafe requests are rare).
func (s *Server) memberAddress(r *http.Request) bool {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DCSTimeout)
	defer cancel()
	cl, err := s.src.Cluster(ctx)
	if err != nil {
		return false
	}
	var hosts []string
	for _, m := range cl.Members {
		if u, err := url.Parse(m.APIURL); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	members, err := ParseAllowlist(hosts)
	return err == nil && len(members) > 0 && members.allows(r.RemoteAddr)
}
