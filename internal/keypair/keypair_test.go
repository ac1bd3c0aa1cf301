package keypair

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youmark/pkcs8"
)

func selfSigned(t *testing.T, key any, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEncryptedPKCS8(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := write(t, "cert.pem", selfSigned(t, key, &key.PublicKey))
	der, err := pkcs8.MarshalPrivateKey(key, []byte("s3cret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}))
	if _, err := Load(cert, keyFile, "s3cret"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	_, err = Load(cert, keyFile, "wrong")
	if err == nil || !strings.Contains(err.Error(), "wrong password") || strings.Contains(err.Error(), "wrong\"") {
		t.Errorf("wrong password: %v", err)
	}
	_, err = Load(cert, keyFile, "")
	if err == nil || !strings.Contains(err.Error(), "set key_password") || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("no password: %v", err)
	}
}

func TestLegacyEncryptedPEM(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	cert := write(t, "cert.pem", selfSigned(t, key, &key.PublicKey))
	//lint:ignore SA1019 producing the legacy form that older openssl writes
	blk, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), []byte("pw"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write(t, "key.pem", pem.EncodeToMemory(blk))
	if _, err := Load(cert, keyFile, "pw"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if _, err := Load(cert, keyFile, "nope"); err == nil {
		t.Error("wrong password accepted")
	}
}

func TestPlainKeyInTheCertificateFile(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(key)
	both := append(selfSigned(t, key, &key.PublicKey), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
	f := write(t, "both.pem", both)
	if _, err := Load(f, "", "ignored"); err != nil {
		t.Fatal(err)
	}
}
