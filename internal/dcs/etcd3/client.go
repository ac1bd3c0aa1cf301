package etcd3

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ClientConfig says how to reach etcd.
type ClientConfig struct {
	Endpoints          []string
	Username, Password string
	TLS                *tls.Config
	DialTimeout        time.Duration
}

// NewClient builds an etcd v3 client. The connection is made lazily: a store that is down
// at start-up shows up as errors from the first operations, as in Patroni.
func NewClient(cc ClientConfig) (*clientv3.Client, error) {
	if len(cc.Endpoints) == 0 {
		return nil, errors.New("etcd client: no endpoints")
	}
	dial := cc.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cc.Endpoints,
		Username:    cc.Username,
		Password:    cc.Password,
		TLS:         cc.TLS,
		DialTimeout: dial,
		// The client's own logger writes JSON to stderr at info; failures reach Warden's
		// log as returned errors instead.
		Logger: zap.NewNop(),
		// Keep the gRPC connection probed so a dead endpoint is noticed between HA loops.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client %v: %w", cc.Endpoints, err)
	}
	return cli, nil
}

// TLSConfig loads Patroni's cacert/cert/key files. Any may be empty; a key may live in the
// cert file, as Patroni allows.
func TLSConfig(cacert, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return nil, fmt.Errorf("etcd cacert %s: %w", cacert, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd cacert %s: no PEM certificate found", cacert)
		}
		cfg.RootCAs = pool
	}
	if cert == "" && key != "" {
		return nil, fmt.Errorf("etcd key %s: given without cert", key)
	}
	if cert != "" {
		certPEM, err := os.ReadFile(cert)
		if err != nil {
			return nil, fmt.Errorf("etcd cert %s: %w", cert, err)
		}
		keyPEM := certPEM
		keyFile := cert
		if key != "" {
			keyFile = key
			if keyPEM, err = os.ReadFile(key); err != nil {
				return nil, fmt.Errorf("etcd key %s: %w", key, err)
			}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("etcd cert %s with key %s: %w", cert, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
