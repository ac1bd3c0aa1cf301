package etcd3

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
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// tlsServer accepts TLS connections requiring a client certificate signed by its own CA,
// as etcd does with --client-cert-auth, and answers one byte once a session is up.
func tlsServer(t *testing.T) (addr string, pool *x509.CertPool, good tls.Certificate) {
	t.Helper()
	der, keyBlock := selfSignedIP(t)
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(keyBlock))
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(parsed)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, len(http2Preface))
				if _, err := io.ReadFull(c, buf); err == nil {
					_, _ = c.Write([]byte{0})
				}
			}()
		}
	}()
	return ln.Addr().String(), pool, cert
}

// selfSignedIP is a CA that is also a leaf for 127.0.0.1, good for both ends.
func selfSignedIP(t *testing.T) ([]byte, *pem.Block) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "warden-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
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

func TestCheckTLS(t *testing.T) {
	addr, pool, good := tlsServer(t)
	otherDER, otherKey := selfSignedIP(t)
	otherCert, _ := x509.ParseCertificate(otherDER)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(otherCert)
	foreign, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherDER}), pem.EncodeToMemory(otherKey))
	if err != nil {
		t.Fatal(err)
	}
	// A loopback port nobody listens on: unreachable is not a refusal.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close()

	ep := "https://" + addr
	cases := []struct {
		name      string
		endpoints []string
		cfg       *tls.Config
		want      string // empty: no error
	}{
		{"good", []string{ep}, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{good}, ServerName: "127.0.0.1"}, ""},
		{"wrong CA", []string{ep}, &tls.Config{RootCAs: otherPool, Certificates: []tls.Certificate{good}}, "certificate signed by unknown authority"},
		{"no client certificate", []string{ep}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, "certificate required"},
		{"foreign client certificate", []string{ep}, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{foreign}, ServerName: "127.0.0.1"}, "remote error: tls"},
		{"etcd down", []string{"https://" + down}, &tls.Config{RootCAs: otherPool}, ""},
		{"one good endpoint is enough", []string{"https://" + down, ep}, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{good}, ServerName: "127.0.0.1"}, ""},
		{"plain http is not checked", []string{"http://" + addr}, &tls.Config{RootCAs: otherPool}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MinVersion = tls.VersionTLS12
			err := checkTLS(context.Background(), tc.endpoints, tc.cfg, 2*time.Second)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ep) || !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, ep, tc.want)
			}
		})
	}
}
