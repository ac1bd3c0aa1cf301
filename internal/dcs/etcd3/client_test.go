package etcd3

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
)

func writePEM(t *testing.T, path string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, blk := range blocks {
		b = append(b, pem.EncodeToMemory(blk)...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func selfSigned(t *testing.T) (certDER []byte, keyBlock *pem.Block) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "warden-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	der, key := selfSigned(t)
	_, otherKey := selfSigned(t)
	certBlock := &pem.Block{Type: "CERTIFICATE", Bytes: der}
	ca := writePEM(t, filepath.Join(dir, "ca.pem"), certBlock)
	cert := writePEM(t, filepath.Join(dir, "cert.pem"), certBlock)
	keyFile := writePEM(t, filepath.Join(dir, "key.pem"), key)
	wrongKey := writePEM(t, filepath.Join(dir, "wrong-key.pem"), otherKey)
	combined := writePEM(t, filepath.Join(dir, "combined.pem"), certBlock, key)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	encrypted := writePEM(t, filepath.Join(dir, "encrypted.pem"), &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("opaque")})

	good := []struct{ name, ca, cert, key string }{
		{"ca only", ca, "", ""},
		{"cert and key", ca, cert, keyFile},
		{"key inside cert", "", combined, ""},
	}
	for _, g := range good {
		cfg, err := TLSConfig(g.ca, g.cert, g.key, "")
		if err != nil {
			t.Errorf("%s: %v", g.name, err)
			continue
		}
		if (g.ca != "") != (cfg.RootCAs != nil) || (g.cert != "") != (len(cfg.Certificates) == 1) {
			t.Errorf("%s: config %+v", g.name, cfg)
		}
	}
	bad := []struct{ name, ca, cert, key, wantFile, wantWhy string }{
		{"missing ca", missing, "", "", missing, "no such file"},
		{"garbage ca", garbage, "", "", garbage, "no PEM certificate"},
		{"missing cert", "", missing, keyFile, missing, "no such file"},
		{"missing key", "", cert, missing, missing, "no such file"},
		{"key does not match", "", cert, wrongKey, wrongKey, "private key does not match"},
		{"cert without key", "", cert, "", cert, "private key"},
		{"key without cert", "", "", keyFile, keyFile, "without cert"},
		{"encrypted key without key_password", "", cert, encrypted, encrypted, "set key_password"},
	}
	for _, b := range bad {
		_, err := TLSConfig(b.ca, b.cert, b.key, "")
		if err == nil || !strings.Contains(err.Error(), b.wantFile) || !strings.Contains(err.Error(), b.wantWhy) {
			t.Errorf("%s: err = %v, want it to name %s and say %q", b.name, err, b.wantFile, b.wantWhy)
		}
	}
}
