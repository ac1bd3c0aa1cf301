//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rewriteHAProxy points a user's HAProxy config (the course's, verbatim in testdata) at
// the test cluster: listeners on free loopback ports, servers at the nodes' PostgreSQL
// ports, health checks at their REST ports. It returns the config and the listener ports
// by section name.
func (c *testCluster) rewriteHAProxy(t *testing.T, src string) (string, map[string]int) {
	b, err := os.ReadFile(src)
	must(t, err)
	ports := map[string]int{}
	section := ""
	server := regexp.MustCompile(`^(\s*server\s+)(pg-\d)(\s+)\S+(.*\bcheck port )\d+(.*)$`)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "listen") {
			section = strings.Fields(trimmed)[1]
		}
		switch {
		case strings.HasPrefix(trimmed, "bind"):
			p := freePort(t)
			ports[section] = p
			line = fmt.Sprintf("    bind 127.0.0.1:%d", p)
		case server.MatchString(line):
			m := server.FindStringSubmatch(line)
			for _, n := range c.nodes {
				if n.name == m[2] {
					line = fmt.Sprintf("%s%s%s127.0.0.1:%d%s%d%s", m[1], m[2], m[3], n.pgPort, m[4], n.apiPort, m[5])
				}
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n", ports
}

func startHAProxy(t *testing.T, cfg string) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed (apt-get install haproxy)")
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	must(t, os.WriteFile(path, []byte(cfg), 0o600))
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
}

// serverPort asks whichever server HAProxy routed the connection to for its port.
func serverPort(port int) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := connect(ctx, &node{host: "127.0.0.1", pgPort: port})
	if err != nil {
		return 0, false, err
	}
	defer conn.Close(context.Background())
	var p int64
	var ro bool
	err = conn.QueryRow(ctx, "SELECT inet_server_port(), pg_is_in_recovery()").Scan(&p, &ro)
	return p, ro, err
}

// TestHAProxySeedConfig runs real HAProxy with the course's configuration (checks
// `OPTIONS/master` and `OPTIONS/replica`, as users wrote them): the read-write port
// reaches the primary before and after a switchover, the read-only port round-robins
// across the replicas.
func TestHAProxySeedConfig(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	cfg, ports := c.rewriteHAProxy(t, "testdata/haproxy-course.cfg")
	rw, ro := ports["pg_read_write"], ports["pg_read_only"]
	if rw == 0 || ro == 0 {
		t.Fatalf("listeners not found in the seed config: %v", ports)
	}
	startHAProxy(t, cfg)

	routesTo := func(n *node) func() bool {
		return func() bool {
			port, inRecovery, err := serverPort(rw)
			return err == nil && port == int64(n.pgPort) && !inRecovery
		}
	}
	c.eventually("the read-write port to reach "+p.name, 30*time.Second, routesTo(p))
	seen := map[int64]bool{}
	c.eventually("the read-only port to reach both replicas", 30*time.Second, func() bool {
		port, inRecovery, err := serverPort(ro)
		if err == nil && inRecovery {
			seen[port] = true
		}
		return len(seen) == 2
	})
	for _, n := range c.others(p) {
		if !seen[int64(n.pgPort)] {
			t.Errorf("read-only port never reached %s", n.name)
		}
	}

	target := c.others(p)[0]
	c.switchover(p, target)
	c.eventually("the read-write port to reach the new primary "+target.name, 60*time.Second, routesTo(target))
	c.waitReplica(p, 60*time.Second)
}
