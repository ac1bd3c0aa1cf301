package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// haproxyConfig mirrors /work/shared/seed-configs/haproxy-workshop.cfg and
// haproxy-course.cfg (both spellings of httpchk) on loopback ports with fast checks.
const haproxyConfig = `global
    maxconn 100
    stats socket {{sock}} level admin

defaults
    mode tcp
    retries 2
    timeout client 30s
    timeout connect 4s
    timeout server 30s
    timeout check 5s

listen pg_read_write
    bind 127.0.0.1:{{rw}}
    option httpchk OPTIONS/master
    http-check expect status 200
    default-server inter 100ms fall 1 rise 1 on-marked-down shutdown-sessions
    server pg-1 127.0.0.1:{{pg1}} maxconn 100 check port {{api1}}
    server pg-2 127.0.0.1:{{pg2}} maxconn 100 check port {{api2}}

listen pg_read_only
    bind 127.0.0.1:{{ro}}
    option httpchk OPTIONS /replica
    http-check expect status 200
    default-server inter 100ms fall 1 rise 1 on-marked-down shutdown-sessions
    server pg-1 127.0.0.1:{{pg1}} maxconn 100 check port {{api1}}
    server pg-2 127.0.0.1:{{pg2}} maxconn 100 check port {{api2}}
`

// fakePostgres stands in for a PostgreSQL port: it writes its name and closes.
func fakePostgres(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			_, _ = io.WriteString(c, name+"\n")
			c.Close()
		}
	}()
	return port(ln.Addr().String())
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// freePort reserves a port for HAProxy; the short window between close and bind is
// acceptable on a loopback-only test machine.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return port(ln.Addr().String())
}

func TestHAProxyRoutesPrimaryBackendToPrimaryOnly(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed")
	}
	if testing.Short() {
		t.Skip("runs haproxy")
	}
	primary := startServer(t, primaryStatus())
	replica := startServer(t, replicaStatus())
	dir := t.TempDir()
	sock := filepath.Join(dir, "haproxy.sock")
	rw, ro := freePort(t), freePort(t)
	cfg := strings.NewReplacer("{{sock}}", sock, "{{rw}}", rw, "{{ro}}", ro,
		"{{pg1}}", fakePostgres(t, "pg-1"), "{{pg2}}", fakePostgres(t, "pg-2"),
		"{{api1}}", port(primary.Addr()), "{{api2}}", port(replica.Addr())).Replace(haproxyConfig)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", cfgPath)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", stderr.String())
		}
	})

	want := map[string]string{
		"pg_read_write/pg-1": "UP", "pg_read_write/pg-2": "DOWN",
		"pg_read_only/pg-1": "DOWN", "pg_read_only/pg-2": "UP",
	}
	waitForStates(ctx, t, sock, want)

	for range 5 {
		if got := readName(t, rw); got != "pg-1" {
			t.Fatalf("read-write frontend reached %q, want pg-1", got)
		}
		if got := readName(t, ro); got != "pg-2" {
			t.Fatalf("read-only frontend reached %q, want pg-2", got)
		}
	}
}

// waitForStates polls the stats socket until every server has been checked into the
// wanted state; HAProxy has no event to wait on.
func waitForStates(ctx context.Context, t *testing.T, sock string, want map[string]string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last map[string]string
	for {
		if got, err := showStat(sock); err == nil {
			last = got
			if matches(got, want) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("servers never reached %v; last stats %v", want, last)
		case <-tick.C:
		}
	}
}

func matches(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func showStat(sock string) (map[string]string, error) {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial stats socket: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, fmt.Errorf("write show stat: %w", err)
	}
	r := csv.NewReader(bufio.NewReader(c))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read show stat: %w", err)
	}
	states := map[string]string{}
	for _, row := range rows {
		// # pxname,svname,qcur,...,status is column 17.
		if len(row) > 17 && !strings.HasPrefix(row[0], "#") {
			states[row[0]+"/"+row[1]] = row[17]
		}
	}
	return states, nil
}

func readName(t *testing.T, p string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read through frontend %s: %v", p, err)
	}
	return strings.TrimSpace(line)
}
