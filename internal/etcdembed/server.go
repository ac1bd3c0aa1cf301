// Package etcdembed runs a single-member etcd server inside the Warden process, for tests,
// the demo and single-machine setups.
package etcdembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config names the member and where it listens. Empty URLs get free loopback ports;
// an empty DataDir gets a fresh temporary directory that Close removes.
type Config struct {
	Name      string
	DataDir   string
	ClientURL string
	PeerURL   string
}

// Server is a running embedded etcd.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	tmpDir    string
	closeOnce sync.Once
}

// startTimeout bounds the wait for the single member to elect itself; a lone member
// normally becomes leader within one election timeout.
const startTimeout = 30 * time.Second

// Start launches the server and returns once it serves client requests.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	// Free ports are found by bind-and-close, so another process can take one in between;
	// retrying with fresh ports makes that race harmless.
	const attempts = 3
	var err error
	for i := 0; i < attempts; i++ {
		var s *Server
		s, err = start(ctx, cfg, log)
		if err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "address already in use") || (cfg.ClientURL != "" && cfg.PeerURL != "") {
			return nil, err
		}
	}
	return nil, err
}

func start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	if ec.Name == "" {
		ec.Name = "warden"
	}
	s := &Server{}
	ec.Dir = cfg.DataDir
	if ec.Dir == "" {
		dir, err := os.MkdirTemp("", "warden-etcd-")
		if err != nil {
			return nil, fmt.Errorf("etcd data directory: %w", err)
		}
		s.tmpDir, ec.Dir = dir, dir
	}
	client, err := urlOrFree(cfg.ClientURL)
	if err != nil {
		s.removeTmp()
		return nil, fmt.Errorf("etcd client url: %w", err)
	}
	peer, err := urlOrFree(cfg.PeerURL)
	if err != nil {
		s.removeTmp()
		return nil, fmt.Errorf("etcd peer url: %w", err)
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(log))
	// A single member elects itself after one election timeout; keep both short so
	// start-up stays well under two seconds.
	ec.TickMs, ec.ElectionMs = 50, 250
	ec.Metrics = "basic"

	e, err := embed.StartEtcd(ec)
	if err != nil {
		s.removeTmp()
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	s.etcd = e
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		_ = s.Close()
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	case <-timer.C:
		_ = s.Close()
		return nil, fmt.Errorf("start embedded etcd: not ready after %s", startTimeout)
	case <-ctx.Done():
		_ = s.Close()
		return nil, fmt.Errorf("start embedded etcd: %w", ctx.Err())
	}
	s.endpoints = []string{client.String()}
	log.Debug("embedded etcd ready", "endpoints", s.endpoints, "data_dir", ec.Dir)
	return s, nil
}

// Endpoints are the client URLs.
func (s *Server) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// Err reports a fatal server error after start.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server and removes a temporary data directory; it is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.etcd != nil {
			s.etcd.Close()
		}
	})
	return s.removeTmp()
}

func (s *Server) removeTmp() error {
	if s.tmpDir == "" {
		return nil
	}
	dir := s.tmpDir
	s.tmpDir = ""
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove etcd data directory: %w", err)
	}
	return nil
}

func urlOrFree(raw string) (*url.URL, error) {
	if raw == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		raw = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Host == "" {
		return nil, errors.New("parse " + raw + ": no host")
	}
	return u, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
