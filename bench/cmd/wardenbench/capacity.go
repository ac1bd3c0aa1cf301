package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/etcd3"
)

// capacity grows the number of simulated idle 3-node Warden clusters on one etcd until the
// p99 latency of the agents' DCS calls passes the limit or a refresh fails; it returns the
// largest healthy count. Each simulated node runs Warden's own store code with an agent's
// per-loop pattern: the leader TouchMember + RefreshLeader, the replicas TouchMember + Load.
// The member value changes every loop (as xlog_location does under writes), the worst case.
func capacity(ctx context.Context, e *etcdProc, set settings, step time.Duration, budget time.Duration, logf func(string, ...any)) (int, []map[string]any) {
	const p99Limit = 100 * time.Millisecond
	clients := make([]*clientv3.Client, 8)
	for i := range clients {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return 0, nil
		}
		defer cli.Close()
		clients[i] = cli
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    atomic.Int64
		running int
		wg      sync.WaitGroup
	)
	simCtx, stopAll := context.WithCancel(ctx)
	defer func() { stopAll(); wg.Wait() }()
	node := func(cluster, member int, leader bool) {
		defer wg.Done()
		st, err := etcd3.Open(clients[(cluster*3+member)%len(clients)], dcs.Options{
			Prefix: fmt.Sprintf("/service/sim-%d/", cluster), Member: fmt.Sprintf("pg-%d", member),
			TTL: time.Duration(set.TTL) * time.Second, RetryTimeout: time.Duration(set.RetryTimeout) * time.Second}, quiet)
		if err != nil {
			errs.Add(1)
			return
		}
		defer st.Close()
		tick := time.NewTicker(time.Duration(set.LoopWait) * time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			t := time.Now()
			err := st.TouchMember(simCtx, []byte(fmt.Sprintf(`{"role":"replica","state":"running","xlog_location":%d}`, i)))
			if err == nil {
				if leader {
					if i == 0 {
						_, err = st.AcquireLeader(simCtx)
					} else {
						err = st.RefreshLeader(simCtx)
					}
				} else {
					_, err = st.Load(simCtx)
				}
			}
			if simCtx.Err() != nil {
				return
			}
			d := time.Since(t)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			if err != nil {
				errs.Add(1)
			}
			select {
			case <-simCtx.Done():
				return
			case <-tick.C:
			}
		}
	}
	var steps []map[string]any
	best := 0
	deadline := time.Now().Add(budget)
	for target := 25; ctx.Err() == nil && time.Now().Add(step).Before(deadline); target *= 2 {
		for ; running < target; running++ {
			wg.Add(3)
			go node(running, 1, true)
			go node(running, 2, false)
			go node(running, 3, false)
		}
		time.Sleep(step / 3) // ramp-up: grants and first writes
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		errs.Store(0)
		time.Sleep(step)
		mu.Lock()
		l := append([]time.Duration(nil), lat...)
		mu.Unlock()
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		var p99 time.Duration
		if len(l) > 0 {
			p99 = l[len(l)*99/100]
		}
		ne := errs.Load()
		healthy := ne == 0 && p99 <= p99Limit && len(l) > 0
		steps = append(steps, map[string]any{"clusters": running, "loops": len(l), "p99_ms": float64(p99.Microseconds()) / 1000, "errors": ne, "healthy": healthy})
		logf("capacity: %d clusters (%d agents): %d loops, p99 %.1f ms, %d errors", running, running*3, len(l), float64(p99.Microseconds())/1000, ne)
		if !healthy {
			break
		}
		best = running
	}
	return best, steps
}
