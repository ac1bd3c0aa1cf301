package postgres

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// checkRevocation does what libpq asks of OpenSSL when a CRL is configured
// (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL): every certificate the server
// presents must be covered by a current CRL of its issuer, signed by that issuer, and
// must not be listed in it. The files are read at each handshake, so a replaced CRL
// applies to the next connection.
func checkRevocation(peer []*x509.Certificate, files []string, roots []*x509.Certificate, now time.Time) error {
	if len(peer) == 0 {
		return errors.New("CRL check: the server presented no certificate")
	}
	lists, err := loadCRLs(files)
	if err != nil {
		return err
	}
	issuers := append(append([]*x509.Certificate{}, peer[1:]...), roots...)
	for _, cert := range peer {
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil {
			continue // a self-signed root is the trust anchor, not checked against a CRL
		}
		if err := checkOne(cert, lists, issuers, now); err != nil {
			return err
		}
	}
	return nil
}

func checkOne(cert *x509.Certificate, lists []*x509.RevocationList, issuers []*x509.Certificate, now time.Time) error {
	found := false
	for _, l := range lists {
		if !bytes.Equal(l.RawIssuer, cert.RawIssuer) || !signedByOneOf(l, issuers) {
			continue
		}
		if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
			return fmt.Errorf("CRL check: the CRL of %s has expired (next update %s)", cert.Issuer, l.NextUpdate.UTC().Format(time.RFC3339))
		}
		found = true
		for _, r := range l.RevokedCertificateEntries {
			if r.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return fmt.Errorf("CRL check: certificate %q (serial %s) is revoked", cert.Subject, cert.SerialNumber)
			}
		}
	}
	if !found {
		return fmt.Errorf("CRL check: no CRL signed by %s, the issuer of %q", cert.Issuer, cert.Subject)
	}
	return nil
}

func signedByOneOf(l *x509.RevocationList, issuers []*x509.Certificate) bool {
	for _, c := range issuers {
		if bytes.Equal(c.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(c) == nil {
			return true
		}
	}
	return false
}

// loadCRLs reads PEM ("X509 CRL" blocks) or DER CRL files, as OpenSSL's lookup does.
func loadCRLs(files []string) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("CRL check: %w", err)
		}
		if !bytes.Contains(b, []byte("-----BEGIN")) {
			l, err := x509.ParseRevocationList(b)
			if err != nil {
				return nil, fmt.Errorf("CRL check: %s: %w", f, err)
			}
			out = append(out, l)
			continue
		}
		for {
			var block *pem.Block
			if block, b = pem.Decode(b); block == nil {
				break
			}
			if block.Type != "X509 CRL" {
				continue
			}
			l, err := x509.ParseRevocationList(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("CRL check: %s: %w", f, err)
			}
			out = append(out, l)
		}
	}
	return out, nil
}
