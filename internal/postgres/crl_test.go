package postgres

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/postgres/pgconf"
	"github.com/youmark/pkcs8"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key}
}

func (ca testCA) issue(t *testing.T, serial int64) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// crl writes a PEM CRL of ca revoking serials, valid until next.
func (ca testCA) crl(t *testing.T, dir string, next time.Time, serials ...int64) string {
	t.Helper()
	var revoked []x509.RevocationListEntry
	for _, s := range serials {
		revoked = append(revoked, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: next, RevokedCertificateEntries: revoked}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "crl-*.pem")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "X509 CRL", Bytes: der}); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func TestCheckRevocation(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "ca"), newTestCA(t, "other")
	good, bad := ca.issue(t, 10), ca.issue(t, 11)
	later, now := time.Now().Add(time.Hour), time.Now()
	crl := ca.crl(t, dir, later, 11)
	roots := []*x509.Certificate{ca.cert}
	for _, tc := range []struct {
		name  string
		peer  []*x509.Certificate
		files []string
		want  string // "" for accepted, else a part of the error
	}{
		{"not revoked", []*x509.Certificate{good}, []string{crl}, ""},
		{"revoked", []*x509.Certificate{bad}, []string{crl}, "is revoked"},
		{"revoked, with the root in the chain", []*x509.Certificate{bad, ca.cert}, []string{crl}, "is revoked"},
		{"no CRL of the issuer", []*x509.Certificate{good}, []string{other.crl(t, dir, later)}, "no CRL signed by"},
		{"expired CRL", []*x509.Certificate{good}, []string{ca.crl(t, dir, now.Add(-time.Minute))}, "has expired"},
		{"unreadable CRL", []*x509.Certificate{good}, []string{filepath.Join(dir, "missing")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRevocation(tc.peer, tc.files, roots, now)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A CRL forged with the issuer's name but another key is not the issuer's.
	forged := testCA{cert: ca.cert, key: other.key}
	if err := checkRevocation([]*x509.Certificate{good}, []string{forged.crl(t, dir, later)}, roots, now); err == nil || !strings.Contains(err.Error(), "no CRL signed by") {
		t.Errorf("forged CRL: err = %v", err)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConnConfig checks how a role's options reach pgx: TLS attempts as sslmode
// says, the client certificate loaded, the CRL check on verifying attempts, no secret
// in the connection string.
func TestConnConfig(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.cert.Raw)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "replicator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	writePEM(t, filepath.Join(dir, "client.crt"), "CERTIFICATE", der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	writePEM(t, filepath.Join(dir, "client.key"), "PRIVATE KEY", kder)
	crl := ca.crl(t, dir, time.Now().Add(time.Hour))

	p := ConnParams{Host: "10.0.0.1", Port: 5432, User: "rep user", Password: "pw secret", SSL: pgconf.ClientSSL{
		SSLMode: "verify-ca", SSLCert: filepath.Join(dir, "client.crt"), SSLKey: filepath.Join(dir, "client.key"),
		SSLRootCert: filepath.Join(dir, "ca.crt"), SSLCRL: crl, SSLPassword: "key secret", ChannelBinding: "require"}}
	dsn := p.DSN()
	if strings.Contains(dsn, "secret") || !strings.Contains(dsn, `user=rep\ user`) || !strings.Contains(dsn, "sslmode=verify-ca") {
		t.Errorf("DSN %q", dsn)
	}
	cfg, err := parseConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != "pw secret" || cfg.ChannelBinding != "require" || len(cfg.Fallbacks) != 0 {
		t.Errorf("password set %v, channel_binding %q, %d fallbacks", cfg.Password == "pw secret", cfg.ChannelBinding, len(cfg.Fallbacks))
	}
	if cfg.TLSConfig == nil || len(cfg.TLSConfig.Certificates) != 1 || cfg.TLSConfig.VerifyConnection == nil {
		t.Fatalf("TLS config %+v: want the client certificate and the CRL check", cfg.TLSConfig)
	}

	enc, err := pkcs8.MarshalPrivateKey(key, []byte("key secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "enc.key"), "ENCRYPTED PRIVATE KEY", enc)
	p.SSL.SSLKey = filepath.Join(dir, "enc.key")
	if cfg, err = parseConfig(p); err != nil || len(cfg.TLSConfig.Certificates) != 1 {
		t.Errorf("PKCS#8-encrypted key with sslpassword: %v", err)
	}
	p.SSL.SSLPassword = "wrong secret"
	if _, err = parseConfig(p); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("wrong sslpassword: err = %v, want one without the password", err)
	}

	p.SSL = pgconf.ClientSSL{SSLMode: "prefer"}
	if cfg, err = parseConfig(p); err != nil || cfg.TLSConfig == nil || len(cfg.Fallbacks) != 1 || cfg.Fallbacks[0].TLSConfig != nil {
		t.Errorf("prefer: want TLS first and a plain fallback, got %+v, %v", cfg, err)
	}
	p.SSL = pgconf.ClientSSL{SSLMode: "disable"}
	if cfg, err = parseConfig(p); err != nil || cfg.TLSConfig != nil || len(cfg.Fallbacks) != 0 {
		t.Errorf("disable: want no TLS, got %+v, %v", cfg, err)
	}
	p.Host, p.SSL = "/run/postgresql", pgconf.ClientSSL{SSLMode: "verify-ca", SSLRootCert: filepath.Join(dir, "ca.crt")}
	if cfg, err = parseConfig(p); err != nil || cfg.TLSConfig != nil {
		t.Errorf("unix socket: want no TLS (libpq uses none there), got %+v, %v", cfg, err)
	}
	p.SSL = pgconf.ClientSSL{GSSEncMode: "require"}
	if _, err = parseConfig(p); err == nil || !strings.Contains(err.Error(), "gssencmode=require") {
		t.Errorf("gssencmode=require: err = %v", err)
	}
}

func TestCommandHidesSecrets(t *testing.T) {
	c := Command{Path: "/usr/bin/pg_rewind", Args: []string{"--source-server=host=h sslpassword=k\\ s3cret"}, Hide: []string{"", "s3cret"}}
	if got := c.String(); strings.Contains(got, "s3cret") || !strings.Contains(got, "sslpassword=k\\ ***") {
		t.Errorf("String() = %q", got)
	}
}
