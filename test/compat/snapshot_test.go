//go:build compat

package compat

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// restPaths are the GET endpoints compared in every state.
var restPaths = []string{"/", "/primary", "/replica", "/read-only", "/standby-leader", "/sync", "/async",
	"/health", "/liveness", "/readiness", "/patroni", "/cluster", "/history", "/config", "/metrics"}

// dataFiles are the files compared in each data directory (order kept for the hba files).
var dataFiles = []struct {
	name   string
	sorted bool
}{
	{"postgresql.conf", true}, {"postgresql.base.conf", true}, {"pg_hba.conf", false}, {"pg_ident.conf", false},
	{"postgresql.auto.conf", true}, {"standby.signal", false}, {"recovery.signal", false}, {"patroni.dynamic.json", false},
}

// ctlTool is one patronictl, run against every cluster.
type ctlTool struct {
	version string
	argv    []string
}

var ctlVerbs = [][]string{{"list"}, {"history"}, {"show-config"}, {"topology"}}

// normalizer maps this cluster's scope, directories, ports and system identifier to
// placeholders shared by every flavor.
func (c *cluster) normalizer() *Normalizer {
	z := &Normalizer{Subst: map[string]string{c.dir: "<dir>", c.scope: "<scope>"}, Ports: map[int]string{}}
	for _, n := range c.nodes {
		z.Ports[n.pgPort] = "<" + n.name + ".pg>"
		z.Ports[n.apiPort] = "<" + n.name + ".api>"
	}
	if kv, err := c.etcd.keys(c.prefix() + "initialize"); err == nil && kv[""] != "" {
		z.Subst[kv[""]] = "<sysid>"
	}
	return z
}

// snapshot records everything observable of the cluster now.
func (c *cluster) snapshot(ctls []ctlTool) Snapshot {
	z := c.normalizer()
	s := Snapshot{}
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		_, status, _ := n.request("GET", "/patroni", "")
		for _, p := range restPaths {
			code, body, _ := n.request("GET", p, "")
			var v any
			switch {
			case p == "/metrics":
				v = MetricNames(string(body))
			case healthCheck(p) && reflect.DeepEqual(z.JSON(body), z.JSON(status)):
				// The health checks answer /patroni's JSON: compared once, under /patroni.
				v = map[string]any{"status": float64(code), "body": "<as GET /patroni>"}
			default:
				v = map[string]any{"status": float64(code), "body": z.JSON(body)}
			}
			s.Add("rest", n.name+" GET "+p, v)
		}
		for _, f := range dataFiles {
			addFile(s, z, n.name+" "+f.name, filepath.Join(n.dataDir(), f.name), f.sorted)
		}
		addFile(s, z, n.name+" pgpass", filepath.Join(n.dir, "pgpass"), false)
	}
	c.dcsInto(z, s)
	for _, ctl := range ctls {
		for _, verb := range ctlVerbs {
			out, code := c.ctl(ctl, verb...)
			target := ctl.version + " " + strings.Join(verb, " ")
			s.Add("ctl", target, z.Table(out))
			s.Add("ctl", target+" (exit code)", float64(code))
		}
	}
	return s
}

func (c *cluster) dcsInto(z *Normalizer, s Snapshot) {
	kv, err := c.etcd.keys(c.prefix())
	if err != nil {
		s.Add("dcs", "(error)", err.Error())
		return
	}
	for k, v := range kv {
		s.Add("dcs", k, z.JSON([]byte(v)))
	}
}

// addFile records a file's mode and normalised content (lines, or JSON), or its absence.
func addFile(s Snapshot, z *Normalizer, target, path string, sorted bool) {
	st, err := os.Stat(path)
	if err != nil {
		s.Add("file", target, "<absent>")
		return
	}
	s.Add("file", target+" (mode)", fmt.Sprintf("%04o", st.Mode().Perm()))
	b, _ := os.ReadFile(path)
	if strings.HasSuffix(path, ".json") {
		s.Add("file", target, z.JSON(b))
		return
	}
	s.Add("file", target, z.Lines(string(b), sorted))
}

// ctl runs a patronictl verb against the cluster (configuration of pg-1) and returns
// its combined output and exit code.
func (c *cluster) ctl(t ctlTool, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append(append(append([]string{}, t.argv...), "-c", c.nodes[0].config), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + c.dir, "LANG=C.UTF-8", "TERM=dumb", "COLUMNS=200"}
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return string(out), code
}

// settle waits until the cluster's normalised DCS keys and /patroni answers stay the same
// over one HA loop (bounded): both clusters are compared at rest, not mid-change.
func (c *cluster) settle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	prev := c.restingState()
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(loopWait)*time.Second + 500*time.Millisecond)
		cur := c.restingState()
		if reflect.DeepEqual(prev, cur) {
			return true
		}
		prev = cur
	}
	return false
}

func (c *cluster) restingState() Snapshot {
	z := c.normalizer()
	s := Snapshot{}
	c.dcsInto(z, s)
	for _, n := range c.nodes {
		if n.cmd != nil {
			_, b, _ := n.request("GET", "/patroni", "")
			s.Add("rest", n.name, z.JSON(b))
		}
	}
	return s
}

// answer records a mutating request's answer (status and normalised body).
func (c *cluster) answer(s Snapshot, n *node, method, path, body, label string) int {
	code, b, _ := n.requestWithin(method, path, body, 90*time.Second)
	var v any = c.normalizer().JSON(b)
	if method == "PATCH" {
		v = "<config>" // the returned config is compared through GET /config
	}
	s.Add("request", n.name+" "+method+" "+path+label, map[string]any{"status": float64(code), "body": v})
	return code
}

// healthCheck: the path answers with the status JSON (everything but the documents).
func healthCheck(p string) bool {
	switch p {
	case "/patroni", "/cluster", "/history", "/config", "/metrics", "/liveness", "/readiness":
		return false
	}
	return true
}

// leaderName is the leader key's value.
func (c *cluster) leaderName() string {
	kv, err := c.etcd.keys(c.prefix() + "leader")
	if err != nil {
		return ""
	}
	return kv[""]
}

func (c *cluster) other(name string) *node {
	for _, n := range c.nodes {
		if n.name != name {
			return n
		}
	}
	return nil
}

func pendingRestart(n *node) bool {
	v, _ := n.status()["pending_restart"].(bool)
	return v
}

func stateOf(n *node) string {
	s, _ := n.status()["state"].(string)
	return s
}
