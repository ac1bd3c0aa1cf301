package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-ha/warden/bench"
)

// attempt is one write as the prober saw it, in absolute time.
type attempt struct {
	start, end time.Time
	ok         bool
	port       int
	err        string
}

// prober INSERTs every 20 ms over one connection, reconnecting after any error, and keeps
// every attempt.
type prober struct {
	via string
	cfg *pgx.ConnConfig

	mu   sync.Mutex
	log  []attempt
	stop context.CancelFunc
	done chan struct{}
}

const insertSQL = "INSERT INTO bench_probe DEFAULT VALUES RETURNING inet_server_port()"

func multiDSN(c *cluster) string {
	ports := make([]string, len(c.nodes))
	hosts := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		ports[i] = fmt.Sprint(n.pgPort)
		hosts[i] = "127.0.0.1"
	}
	return fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=1",
		strings.Join(hosts, ","), strings.Join(ports, ","))
}

func startProber(ctx context.Context, via, dsn string) (*prober, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Password = superPassword
	ctx, cancel := context.WithCancel(ctx)
	p := &prober{via: via, cfg: cfg, stop: cancel, done: make(chan struct{})}
	go p.run(ctx)
	return p, nil
}

func (p *prober) run(ctx context.Context) {
	defer close(p.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a := attempt{start: time.Now()}
		actx, cancel := context.WithTimeout(ctx, 4*time.Second)
		var err error
		if conn == nil {
			conn, err = pgx.ConnectConfig(actx, p.cfg)
			if err != nil {
				conn = nil
			}
		}
		if err == nil {
			qctx, qcancel := context.WithTimeout(actx, time.Second)
			var port int32
			err = conn.QueryRow(qctx, insertSQL).Scan(&port)
			qcancel()
			a.port = int(port)
			if err != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		a.end, a.ok = time.Now(), err == nil
		if err != nil {
			a.err = shortErr(err)
			a.port = 0
		}
		p.mu.Lock()
		p.log = append(p.log, a)
		p.mu.Unlock()
	}
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func (p *prober) halt() {
	p.stop()
	<-p.done
}

// samples converts the log to times relative to t0.
func (p *prober) samples(t0 time.Time) []bench.Sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]bench.Sample, 0, len(p.log))
	for _, a := range p.log {
		out = append(out, bench.Sample{Start: a.start.Sub(t0).Seconds(), End: a.end.Sub(t0).Seconds(), OK: a.ok, Port: a.port, Via: p.via, Err: a.err})
	}
	return out
}

// okSince reports whether an attempt that started at or after t succeeded (optionally on
// a port other than notPort).
func (p *prober) okSince(t time.Time, notPort int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.log) - 1; i >= 0; i-- {
		a := p.log[i]
		if a.start.Before(t) {
			return false
		}
		if a.ok && (notPort == 0 || a.port != notPort) {
			return true
		}
	}
	return false
}

// probes is the multi-host prober plus, optionally, one direct prober per node.
type probes struct {
	all []*prober
}

func startProbes(ctx context.Context, c *cluster, direct bool) (*probes, error) {
	ps := &probes{}
	m, err := startProber(ctx, "multi", multiDSN(c))
	if err != nil {
		return nil, err
	}
	ps.all = append(ps.all, m)
	if direct {
		for _, n := range c.nodes {
			d, err := startProber(ctx, n.name, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=1", n.pgPort))
			if err != nil {
				ps.halt()
				return nil, err
			}
			ps.all = append(ps.all, d)
		}
	}
	return ps, nil
}

func (ps *probes) multi() *prober { return ps.all[0] }

func (ps *probes) get(via string) *prober {
	for _, p := range ps.all {
		if p.via == via {
			return p
		}
	}
	return nil
}

func (ps *probes) halt() {
	for _, p := range ps.all {
		p.halt()
	}
}

func (ps *probes) samples(t0 time.Time) []bench.Sample {
	var out []bench.Sample
	for _, p := range ps.all {
		out = append(out, p.samples(t0)...)
	}
	return out
}

// waitUntil polls cond every 20 ms until it holds (true) or the timeout passes (false).
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
