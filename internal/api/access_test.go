package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

type testPKI struct {
	dir                   string
	caFile                string
	serverCert, serverKey string
	client                tls.Certificate
	pool                  *x509.CertPool
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	p := testPKI{dir: dir, caFile: filepath.Join(dir, "ca.pem"), serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server.key")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	sDER, sKey := issue("server", x509.ExtKeyUsageServerAuth)
	writePEM(t, p.serverCert, "CERTIFICATE", sDER)
	sk, _ := x509.MarshalECPrivateKey(sKey)
	writePEM(t, p.serverKey, "EC PRIVATE KEY", sk)
	cDER, cKey := issue("client", x509.ExtKeyUsageClientAuth)
	p.client = tls.Certificate{Certificate: [][]byte{cDER}, PrivateKey: cKey}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	return p
}

func startTLSServer(t *testing.T, opts Options) string {
	t.Helper()
	src := &fakeSource{}
	src.st.Store(primaryStatus())
	opts.Listen = "127.0.0.1:0"
	opts.Controller = &fakeController{}
	s := New(src, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addr()
}

func TestHTTPSWithOptionalClientCertificates(t *testing.T) {
	pki := newPKI(t)
	cfg, _, err := ServerTLS(TLSFiles{CertFile: pki.serverCert, KeyFile: pki.serverKey, CAFile: pki.caFile, VerifyClient: "optional"})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSServer(t, Options{TLS: cfg, ExtraHeaders: map[string]string{"X-Frame-Options": "DENY"}})
	anonymous := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}}}

	resp, err := anonymous.Get("https://" + addr + "/patroni")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET without a client certificate: %d, headers %v", resp.StatusCode, resp.Header)
	}
	resp, err = anonymous.Post("https://"+addr+"/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || strings.TrimSpace(string(b)) != "client certificate required" {
		t.Errorf("POST without a client certificate: %d %q", resp.StatusCode, b)
	}
	resp, err = withCert.Post("https://"+addr+"/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Errorf("POST with a client certificate: %d", resp.StatusCode)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + addr + "/patroni"); err == nil {
		t.Error("TLS 1.1 was accepted")
	}
}

func TestServerTLSErrorsNameTheFile(t *testing.T) {
	_, _, err := ServerTLS(TLSFiles{CertFile: "/nonexistent/cert.pem"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Errorf("missing cert: %v", err)
	}
	pki := newPKI(t)
	_, _, err = ServerTLS(TLSFiles{CertFile: pki.serverCert, KeyFile: pki.serverKey, VerifyClient: "required"})
	if err == nil || !strings.Contains(err.Error(), "restapi.cafile") {
		t.Errorf("verify_client without cafile: %v", err)
	}
}

func TestAllowlist(t *testing.T) {
	list, err := ParseAllowlist([]string{"10.0.0.0/8", "192.168.1.7"})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSServer(t, Options{Allowlist: list})
	resp, err := http.Post("http://"+addr+"/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || strings.TrimSpace(string(b)) != "Access is denied" {
		t.Errorf("POST from outside the allowlist: %d %q", resp.StatusCode, b)
	}
	if resp, err := http.Get("http://" + addr + "/patroni"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET must not be limited by the allowlist: %v %v", resp, err)
	}
	if !list.allows("10.1.2.3:5555") || list.allows("192.168.1.8:1") || !list.allows("192.168.1.7:1") {
		t.Error("allowlist matching is wrong")
	}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// TestCertificateReload: a renewed certificate is served after Reload without
// restarting the listener.
func TestCertificateReload(t *testing.T) {
	first, second := newPKI(t), newPKI(t)
	cfg, cert, err := ServerTLS(TLSFiles{CertFile: first.serverCert, KeyFile: first.serverKey})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSServer(t, Options{TLS: cfg})
	get := func(pool *x509.CertPool) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		resp, err := c.Get("https://" + addr + "/patroni")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(first.pool); err != nil {
		t.Fatalf("first certificate: %v", err)
	}
	// Renew: the files now hold a certificate from another CA.
	for _, f := range [][2]string{{second.serverCert, first.serverCert}, {second.serverKey, first.serverKey}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := cert.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := get(second.pool); err != nil {
		t.Fatalf("renewed certificate not served after Reload: %v", err)
	}
	if err := get(first.pool); err == nil {
		t.Fatal("the old certificate is still served")
	}
}

// countingSource counts DCS reads, as allowlist_include_members reads the members.
type countingSource struct {
	*fakeSource
	reads atomic.Int32
}

func (c *countingSource) Cluster(ctx context.Context) (*cluster.Cluster, error) {
	c.reads.Add(1)
	return c.fakeSource.Cluster(ctx)
}

func allowlistServer(t *testing.T, opts Options, memberHost string) (*httptest.Server, *countingSource) {
	t.Helper()
	src := &countingSource{fakeSource: &fakeSource{cluster: &cluster.Cluster{Members: []cluster.Member{{Name: "pg-2", APIURL: "http://" + memberHost + ":8008/patroni"}}}}}
	src.st.Store(primaryStatus())
	opts.Controller = &fakeController{}
	srv := httptest.NewServer(New(src, opts, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler())
	t.Cleanup(srv.Close)
	return srv, src
}

// allowlist_include_members alone admits the members only (Patroni 3.0.2's check_access),
// and POST /failsafe never reads the DCS for it: the primary sends it when the DCS is out
// of reach, and Patroni 4.0 checks only restapi.allowlist there.
func TestAllowlistIncludeMembers(t *testing.T) {
	srv, _ := allowlistServer(t, Options{AllowlistIncludeMembers: true}, "10.9.9.9")
	if code, body := do(t, "POST", srv.URL+"/reload", "", false); code != 403 || body != "Access is denied" {
		t.Errorf("POST /reload from a non-member: %d %q", code, body)
	}
	if code, _ := do(t, "POST", srv.URL+"/failsafe", `{"name":"pg-2"}`, false); code == 403 {
		t.Error("POST /failsafe refused by allowlist_include_members")
	}
	srv, _ = allowlistServer(t, Options{AllowlistIncludeMembers: true}, "127.0.0.1")
	if code, _ := do(t, "POST", srv.URL+"/reload", "", false); code != 202 {
		t.Errorf("POST /reload from a member: %d", code)
	}

	list, err := ParseAllowlist([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	srv, src := allowlistServer(t, Options{Allowlist: list, AllowlistIncludeMembers: true}, "127.0.0.1")
	src.err = errors.New("etcd is down")
	before := src.reads.Load()
	if code, _ := do(t, "POST", srv.URL+"/failsafe", `{"name":"pg-2"}`, false); code != 403 {
		t.Errorf("POST /failsafe from outside restapi.allowlist: %d", code)
	}
	if n := src.reads.Load() - before; n != 0 {
		t.Errorf("POST /failsafe read the DCS %d times for allowlist_include_members", n)
	}
	if code, _ := do(t, "POST", srv.URL+"/reload", "", false); code != 403 {
		t.Errorf("POST /reload with the DCS down: %d", code)
	}
}
