//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netLab is a private network on this machine: a bridge in the root namespace holding
// 10.A.B.254/24, and one network namespace per member (10.A.B.n/24 on a veth whose other
// end is on the bridge). The test process reaches every namespace through the bridge, so
// it can watch every node while nodes are cut off from each other.
//
// Names carry the subnet (bridge wdb-A-B, namespaces wdn-A-B-<n>): creating the bridge
// claims the subnet, so parallel runs never collide, and cleanup deletes only what this
// run created.
//
// A cut between two namespaces routes each one's traffic for the other to 10.A.B.253,
// an address nobody holds: packets are dropped silently (new connections fail after the
// ARP timeout, open ones stall), as across a real partition, while both stay reachable
// from the bridge address. tc's classifiers and iptables are not needed (and are not
// available on every machine).
type netLab struct {
	t      *testing.T
	ip     string
	subnet string // "10.A.B"
	bridge string
	// cuts holds the routes in place, "ns dst", so heal removes exactly those.
	cuts map[string]bool
}

// netLabAvailable says why namespaces cannot be made here, or "".
func netLabAvailable() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip command"
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		return "no setpriv command"
	}
	return ""
}

func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if why := netLabAvailable(); why != "" {
		t.Skipf("network namespaces: %s", why)
	}
	ip, _ := exec.LookPath("ip")
	l := &netLab{t: t, ip: ip, cuts: map[string]bool{}}
	for try := 0; ; try++ {
		a, b := 200+rand.IntN(50), rand.IntN(256)
		subnet := fmt.Sprintf("10.%d.%d", a, b)
		if out, _ := exec.Command(ip, "-4", "route", "show", "to", "match", subnet+".1").Output(); strings.Contains(string(out), subnet+".") {
			continue
		}
		bridge := fmt.Sprintf("wdb-%d-%d", a, b)
		if err := exec.Command(ip, "link", "add", bridge, "type", "bridge").Run(); err != nil {
			if try > 20 {
				t.Fatalf("netLab: could not create a bridge: %v", err)
			}
			continue
		}
		l.subnet, l.bridge = subnet, bridge
		break
	}
	t.Cleanup(func() { l.run("link", "del", l.bridge) })
	l.must("addr", "add", l.subnet+".254/24", "dev", l.bridge)
	l.must("link", "set", l.bridge, "up")
	return l
}

func (l *netLab) run(args ...string) error {
	out, err := exec.Command(l.ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (l *netLab) must(args ...string) {
	l.t.Helper()
	must(l.t, l.run(args...))
}

func (l *netLab) nsName(host int) string {
	return fmt.Sprintf("wdn-%s-%d", strings.ReplaceAll(strings.TrimPrefix(l.subnet, "10."), ".", "-"), host)
}

// addr is the address of the namespace numbered host.
func (l *netLab) addr(host int) string { return fmt.Sprintf("%s.%d", l.subnet, host) }

// network is the lab's subnet in CIDR form, for pg_hba.
func (l *netLab) network() string { return l.subnet + ".0/24" }

// namespace creates namespace number host (1..250) with address 10.A.B.host on its eth0,
// plugged into the bridge, and deletes it at cleanup.
func (l *netLab) namespace(host int) (string, string) {
	l.t.Helper()
	ns := l.nsName(host)
	l.must("netns", "add", ns)
	l.t.Cleanup(func() { _ = l.run("netns", "del", ns) })
	veth := fmt.Sprintf("%s-%d", l.bridge, host)
	if len(veth) > 15 {
		veth = fmt.Sprintf("wdv%s%d", strings.ReplaceAll(strings.TrimPrefix(l.subnet, "10."), ".", ""), host)
	}
	l.must("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.must("link", "set", veth, "master", l.bridge)
	l.must("link", "set", veth, "up")
	l.must("-n", ns, "addr", "add", l.addr(host)+"/24", "dev", "eth0")
	l.must("-n", ns, "link", "set", "eth0", "up")
	l.must("-n", ns, "link", "set", "lo", "up")
	return ns, l.addr(host)
}

// command runs name in namespace ns; `ip netns exec` execs in place, so the process ID is
// the command's.
func (l *netLab) command(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command(l.ip, append([]string{"netns", "exec", ns, name}, args...)...)
}

// commandIn adapts command to exec.Command's shape for one namespace.
func (l *netLab) commandIn(ns string) func(string, ...string) *exec.Cmd {
	return func(name string, args ...string) *exec.Cmd { return l.command(ns, name, args...) }
}

// cut drops all traffic between the two namespaces (both directions).
func (l *netLab) cut(nsA, addrA, nsB, addrB string) {
	l.t.Helper()
	for _, r := range [][2]string{{nsA, addrB}, {nsB, addrA}} {
		key := r[0] + " " + r[1]
		if l.cuts[key] {
			continue
		}
		l.must("-n", r[0], "route", "add", r[1]+"/32", "via", l.subnet+".253", "dev", "eth0")
		l.cuts[key] = true
	}
}

// healAll removes every cut.
func (l *netLab) healAll() {
	l.t.Helper()
	for key := range l.cuts {
		ns, dst, _ := strings.Cut(key, " ")
		l.must("-n", ns, "route", "del", dst+"/32", "via", l.subnet+".253", "dev", "eth0")
		delete(l.cuts, key)
	}
}

// etcdHost is the lab host number of the etcd namespace.
const etcdHost = 100

// newNetnsCluster prepares three nodes, each (agent and postmaster) in its own network
// namespace, with Debian's etcd in a fourth; it returns the cluster and etcd.
func newNetnsCluster(t *testing.T, tm timings) (*testCluster, *etcdProcess) {
	t.Helper()
	l := newNetLab(t)
	etcdNS, etcdAddr := l.namespace(etcdHost)
	etcd := runDebianEtcd(t, etcdAddr, 2379, 2380, l.commandIn(etcdNS))
	c := newClusterInLab(t, l, etcd.endpoints, tm)
	t.Logf("netLab: bridge %s, nodes on %s.1-3, etcd on %s", l.bridge, l.subnet, etcdAddr)
	return c, etcd
}

// newClusterInLab prepares three nodes in namespaces 1-3 of l.
func newClusterInLab(t *testing.T, l *netLab, endpoints []string, tm timings) *testCluster {
	t.Helper()
	var nss, addrs [3]string
	for i := range nss {
		nss[i], addrs[i] = l.namespace(i + 1)
	}
	c := newCluster(t, endpoints, tm)
	c.lab, c.clients = l, l.network()
	for i, n := range c.nodes {
		n.ns, n.host = nss[i], addrs[i]
	}
	c.writeConfigs(tm)
	return c
}

// isolate cuts n off from etcd, and from the other nodes too when fromPeers.
func (c *testCluster) isolate(n *node, fromPeers bool) {
	c.t.Helper()
	l := c.lab
	l.cut(n.ns, n.host, l.nsName(etcdHost), l.addr(etcdHost))
	if fromPeers {
		for _, o := range c.others(n) {
			l.cut(n.ns, n.host, o.ns, o.host)
		}
	}
}
