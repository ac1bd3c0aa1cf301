package etcd3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/warden-ha/warden/internal/keypair"
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
		return nil, explainClient(cc, err)
	}
	return cli, nil
}

// connect builds the client; with a username the client authenticates at once, and an
// etcd that does not answer yet is waited for, as Patroni does ("waiting on etcd"), while
// a refused password stops the start.
func connect(ctx context.Context, cc ClientConfig, log *slog.Logger) (*clientv3.Client, error) {
	for {
		cli, err := NewClient(cc)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || cc.Username == "" {
			return cli, err
		}
		log.Warn("waiting on etcd", "endpoints", strings.Join(cc.Endpoints, ","), "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("etcd %v: %w (last error: %v)", cc.Endpoints, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// TLSConfig loads Patroni's cacert/cert/key files. Any may be empty; a key may live in the
// cert file, as Patroni allows, and may be encrypted with keyPassword (key_password).
func TLSConfig(cacert, cert, key, keyPassword string) (*tls.Config, error) {
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
		pair, err := keypair.Load(cert, key, keyPassword)
		if err != nil {
			return nil, fmt.Errorf("etcd %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
