//go:build e2e

package e2e

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// prober is a client that tries an INSERT every 20 ms on whichever node accepts writes,
// and records each attempt: the client's view of a write gap.
type prober struct {
	c      *testCluster
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	acks   []int // ids acknowledged
	okAt   []time.Time
	nextID int
}

func (c *testCluster) startProber(firstID int) *prober {
	p := &prober{c: c, stop: make(chan struct{}), done: make(chan struct{}), nextID: firstID}
	go p.run()
	return p
}

func (p *prober) run() {
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
		case <-p.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if conn == nil {
			for _, n := range p.c.nodes {
				cn, err := connect(ctx, n)
				if err != nil {
					continue
				}
				var ro bool
				if cn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&ro) == nil && !ro {
					conn = cn
					break
				}
				cn.Close(context.Background())
			}
		}
		if conn != nil {
			id := p.nextID
			if _, err := conn.Exec(ctx, "INSERT INTO e2e_rows (id) VALUES ($1)", id); err == nil {
				p.mu.Lock()
				p.acks = append(p.acks, id)
				p.okAt = append(p.okAt, time.Now())
				p.nextID++
				p.mu.Unlock()
			} else {
				// A commit cut off by a demotion may have landed though unacknowledged (a
				// synchronous commit cancelled after the local commit): its id is taken.
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "23505" {
					p.mu.Lock()
					p.nextID++
					p.mu.Unlock()
				}
				conn.Close(context.Background())
				conn = nil
			}
		}
		cancel()
	}
}

// finish stops the prober and returns the acknowledged ids and the longest gap between
// successful writes.
func (p *prober) finish() ([]int, time.Duration) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(p.okAt); i++ {
		gap = max(gap, p.okAt[i].Sub(p.okAt[i-1]))
	}
	return append([]int(nil), p.acks...), gap
}
