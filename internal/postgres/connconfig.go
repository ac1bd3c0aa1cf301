package postgres

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/warden-ha/warden/internal/keypair"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// ConnParams address a server as one of the configured roles. Password may be
// empty when a pgpass file or trust/peer authentication applies. Host "" means
// libpq's default unix socket directory; a host starting with "/" is a socket
// directory.
type ConnParams struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string // default "postgres"
	// SSL are the role's client-side security options, applied as libpq applies
	// them (sslcrl/sslcrldir checked by Warden, since pgx has no CRL support).
	SSL pgconf.ClientSSL
}

// LogValue keeps the passwords out of logs.
func (p ConnParams) LogValue() string { return p.DSN() }

// DSN is the keyword/value connection string without password and sslpassword.
func (p ConnParams) DSN() string {
	ssl := p.SSL
	ssl.SSLPassword = ""
	return pgconf.PrimaryConnInfo(pgconf.ConnInfo{DBName: p.database(), User: p.User, Host: p.Host,
		Port: strconv.Itoa(p.Port), ClientSSL: ssl})
}

func (p ConnParams) database() string {
	if p.Database == "" {
		return "postgres"
	}
	return p.Database
}

// connectTimeout is Patroni's connect_timeout for its own connections.
const connectTimeout = 3 * time.Second

// pgxDSN is DSN without sslcert and sslkey: finishConfig loads the client certificate
// itself, since pgx cannot decrypt a PKCS#8-encrypted key as libpq does.
func (p ConnParams) pgxDSN() string {
	p.SSL.SSLCert, p.SSL.SSLKey = "", ""
	return p.DSN()
}

// checkSupported refuses what pgx cannot do rather than silently connecting with less.
func (p ConnParams) checkSupported() error {
	if p.SSL.GSSEncMode == "require" {
		return errors.New("gssencmode=require: Warden's own connections do not support GSSAPI encryption")
	}
	return nil
}

// parseConfig is p as a pgconn configuration.
func parseConfig(p ConnParams) (*pgconn.Config, error) {
	if err := p.checkSupported(); err != nil {
		return nil, err
	}
	cfg, err := pgconn.ParseConfig(p.pgxDSN())
	if err != nil {
		return nil, err
	}
	return cfg, p.finishConfig(cfg)
}

// finishConfig sets what the connection string leaves out: the password, the
// connect timeout, the client certificate (its key decrypted with sslpassword) and the
// CRL check on every TLS attempt.
func (p ConnParams) finishConfig(cfg *pgconn.Config) error {
	cfg.Password = p.Password
	cfg.ConnectTimeout = connectTimeout
	var certs []tls.Certificate
	if p.SSL.SSLCert != "" || p.SSL.SSLKey != "" {
		cert, err := keypair.Load(p.SSL.SSLCert, p.SSL.SSLKey, p.SSL.SSLPassword)
		if err != nil {
			return fmt.Errorf("sslcert/sslkey: %w", err)
		}
		certs = []tls.Certificate{cert}
	}
	crl, err := p.crlFiles()
	if err != nil {
		return err
	}
	check := func(cs tls.ConnectionState) error {
		return checkRevocation(cs.PeerCertificates, crl, p.rootCerts(), time.Now())
	}
	finish := func(t *tls.Config) {
		if t == nil {
			return
		}
		if certs != nil {
			t.Certificates = certs
		}
		// libpq checks the CRL only when it verifies the chain with a root certificate.
		if len(crl) > 0 && t.RootCAs != nil {
			t.VerifyConnection = check
		}
	}
	finish(cfg.TLSConfig)
	for _, f := range cfg.Fallbacks {
		finish(f.TLSConfig)
	}
	return nil
}

// crlFiles lists the CRL files libpq would load: sslcrl, every file in sslcrldir,
// or ~/.postgresql/root.crl when neither is set and it exists.
func (p ConnParams) crlFiles() ([]string, error) {
	var files []string
	if p.SSL.SSLCRL != "" {
		files = append(files, p.SSL.SSLCRL)
	}
	if dir := p.SSL.SSLCRLDir; dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("sslcrldir: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(files) == 0 && p.SSL.SSLCRLDir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			if def := filepath.Join(home, ".postgresql", "root.crl"); fileExists(def) {
				files = append(files, def)
			}
		}
	}
	return files, nil
}

// rootCerts are the certificates of sslrootcert (or ~/.postgresql/root.crt), the
// issuers a CRL may be signed by; unreadable files give none.
func (p ConnParams) rootCerts() []*x509.Certificate {
	path := p.SSL.SSLRootCert
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".postgresql", "root.crt")
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// address names the server for error messages: host:port, or the socket.
func (p ConnParams) address() string {
	switch {
	case p.Host == "":
		return fmt.Sprintf("the default unix socket (port %d)", p.Port)
	case strings.HasPrefix(p.Host, "/"):
		return fmt.Sprintf("unix socket %s/.s.PGSQL.%d", p.Host, p.Port)
	}
	return net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
}
