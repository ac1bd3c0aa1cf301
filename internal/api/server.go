// Package api is Warden's Patroni-compatible REST API. Health checks are answered only
// from the status the agent last published, never from PostgreSQL or the DCS, so that a
// load balancer polling every node costs almost nothing. Only /cluster, /history and
// /config read the DCS.
package api

import (
	"context"

	"crypto/tls"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// Options configures the REST server.
type Options struct {
	// Listen is host:port (Patroni restapi.listen).
	Listen string
	// TLS enables HTTPS; nil serves plain HTTP.
	TLS *tls.Config
	// DCSTimeout bounds the DCS read behind /cluster, /history and /config
	// (default 10s, Patroni's retry_timeout default).
	DCSTimeout time.Duration
	// Controller serves the mutating endpoints; nil answers them 501.
	Controller Controller
	// Username and Password (restapi.authentication) guard the mutating endpoints.
	Username, Password string
	// Registry holds extra metrics (the agent's decision counters) for GET /metrics.
	Registry *prometheus.Registry
	// Allowlist limits who may call the mutating endpoints (restapi.allowlist);
	// AllowlistIncludeMembers also admits the members' own hosts.
	Allowlist               Allowlist
	AllowlistIncludeMembers bool
	// ExtraHeaders are added to every response (http_extra_headers, plus
	// https_extra_headers under TLS).
	ExtraHeaders map[string]string
}

// Timeouts cut off slow clients; a health checker sends its request at once.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 5 * time.Second
	defaultDCSTimeout = 10 * time.Second
)

// Server is the REST API of one node.
type Server struct {
	src     Source
	opts    Options
	log     *slog.Logger
	handler http.Handler
	metrics http.Handler
	now     func() time.Time
	// cache holds the view built from the last published status: the JSON body is
	// encoded once per status, not once per request.
	cache atomic.Pointer[view]

	mu sync.Mutex
	ln net.Listener
}

// New builds a server; it listens only when Listen or Serve is called.
func New(src Source, opts Options, log *slog.Logger) *Server {
	if opts.DCSTimeout <= 0 {
		opts.DCSTimeout = defaultDCSTimeout
	}
	s := &Server{src: src, opts: opts, log: log, now: time.Now}
	s.metrics = metricsHandler(src, func() time.Time { return s.now() }, opts.Registry)
	s.handler = http.HandlerFunc(s.serveHTTP)
	if len(opts.ExtraHeaders) > 0 {
		inner := s.handler
		s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range opts.ExtraHeaders {
				w.Header().Set(k, v)
			}
			inner.ServeHTTP(w, r)
		})
	}
	return s
}

// ServerHeader is the Server header for restapi.server_tokens (Patroni 4.1): "Patroni"
// for productonly, "Patroni/<version>" for minimal (the version /patroni reports), none
// for original, where Patroni shows Python's BaseHTTP and Python versions and Warden
// sends no Server header at all.
func ServerHeader(tokens string) string {
	switch tokens {
	case "productonly":
		return "Patroni"
	case "minimal":
		return "Patroni/" + cluster.Version
	}
	return ""
}

// Handler is the routing handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the listening socket; Serve calls it when it has not been called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address ("" before Listen).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve answers requests until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if s.opts.TLS != nil {
		cfg := s.opts.TLS.Clone()
		if len(cfg.NextProtos) == 0 {
			// The request-line fixer hides the *tls.Conn from net/http, which could not
			// speak HTTP/2 on it anyway.
			cfg.NextProtos = []string{"http/1.1"}
		}
		ln = tls.NewListener(ln, cfg)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       connContext,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(requestLineListener{ln}) }()
	s.log.Info("REST API listening", "addr", ln.Addr().String(), "tls", s.opts.TLS != nil)
	select {
	case err := <-errc:
		return fmt.Errorf("serve REST API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down REST API: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve REST API: %w", err)
	}
	return nil
}

// currentView returns the view of the last published status, rebuilding it only when
// the agent has published a new one.
func (s *Server) currentView() (*view, error) {
	st := s.src.Status()
	if st == nil {
		return nil, errors.New("no status published yet")
	}
	if v := s.cache.Load(); v != nil && v.st == st {
		return v, nil
	}
	v, err := newView(st)
	if err != nil {
		return nil, err
	}
	s.cache.Store(v)
	return v, nil
}
