//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/youmark/pkcs8"
)

const rewindKeyPassword = "e2e-rewind-key-secret"

// pgPKI is a CA, PostgreSQL's server certificate and one client certificate per role
// (CN = role name), the rewind role's key encrypted with rewindKeyPassword, and an
// empty CRL of the CA.
type pgPKI struct {
	dir, ca, crl, serverCert, serverKey string
}

func (p pgPKI) cert(role string) string { return filepath.Join(p.dir, role+".crt") }
func (p pgPKI) key(role string) string  { return filepath.Join(p.dir, role+".key") }

func newPgPKI(t *testing.T, dir string, owner osUser) pgPKI {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.Chown(dir, int(owner.uid), int(owner.gid)))
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		must(t, os.Chown(path, int(owner.uid), int(owner.gid)))
		return path
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "warden-e2e-pg-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(t, err)
	p := pgPKI{dir: dir, ca: write("ca.crt", "CERTIFICATE", caDER)}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour)}, ca, caKey)
	must(t, err)
	p.crl = write("ca.crl", "X509 CRL", crl)
	serial := int64(1)
	issue := func(cn string, usage x509.ExtKeyUsage) (*ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		must(t, err)
		return key, der
	}
	key, der := issue("localhost", x509.ExtKeyUsageServerAuth)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	p.serverCert, p.serverKey = write("server.crt", "CERTIFICATE", der), write("server.key", "PRIVATE KEY", kb)
	for _, role := range []string{"postgres", "replicator", "rewinder"} {
		key, der := issue(role, x509.ExtKeyUsageClientAuth)
		write(role+".crt", "CERTIFICATE", der)
		if role == "rewinder" {
			enc, err := pkcs8.MarshalPrivateKey(key, []byte(rewindKeyPassword), nil)
			must(t, err)
			write(role+".key", "ENCRYPTED PRIVATE KEY", enc)
			continue
		}
		kb, err := x509.MarshalPKCS8PrivateKey(key)
		must(t, err)
		write(role+".key", "PRIVATE KEY", kb)
	}
	return p
}

// secureYAML turns the harness configuration into the hardened one: TCP only with SSL
// and a CA-signed client certificate, trust only over the unix socket, Warden's local
// connections through the socket, every role with sslmode verify-ca and its certificate.
func secureYAML(t *testing.T, base string, p pgPKI, socketRepl bool) string {
	t.Helper()
	role := func(name, user, pass, extra string) string {
		return fmt.Sprintf("    %s: {username: %s, password: %s, sslmode: verify-ca, sslcert: %s, sslkey: %s, sslrootcert: %s, sslcrl: %s%s}\n",
			name, user, pass, p.cert(user), p.key(user), p.ca, p.crl, extra)
	}
	auth := role("superuser", "postgres", superPassword, "") + role("replication", "replicator", replPassword, "") +
		role("rewind", "rewinder", rewindPass, ", sslpassword: "+rewindKeyPassword)
	re := regexp.MustCompile(`(?m)^    superuser: .*\n    replication: .*\n    rewind: .*\n`)
	if len(re.FindAllString(base, -1)) != 1 {
		t.Fatalf("harness configuration changed shape: no single authentication block")
	}
	y := re.ReplaceAllLiteralString(base, auth)
	params := fmt.Sprintf("  parameters:\n    ssl: 'on'\n    ssl_cert_file: %s\n    ssl_key_file: %s\n    ssl_ca_file: %s\n    log_connections: 'on'\n",
		p.serverCert, p.serverKey, p.ca)
	if strings.Count(y, "  parameters:\n") != 1 {
		t.Fatalf("harness configuration changed shape: no single parameters block")
	}
	y = strings.Replace(y, "  parameters:\n", params, 1)
	return y + fmt.Sprintf(`  use_unix_socket: true
  use_unix_socket_repl: %t
  pg_hba:
  - local all all trust
  - local replication replicator trust
  - hostssl replication replicator all md5 clientcert=verify-ca
  - hostssl all all all md5 clientcert=verify-ca
`, socketRepl)
}

// socketConn connects as the superuser through the node's unix socket (local trust):
// the only way in without a client certificate.
func socketConn(ctx context.Context, n *node) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres connect_timeout=2", n.dir, n.pgPort))
}

func socketExec(n *node, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := socketConn(ctx, n)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func socketString(n *node, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := socketConn(ctx, n)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var s string
	err = conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

// sslReplicas lists, on the primary, the walsenders streaming over SSL with the
// replicator's certificate, as "name:/CN=replicator".
func sslReplicas(p *node) string {
	s, _ := socketString(p, `SELECT COALESCE(string_agg(r.application_name || ':' || s.client_dn, ',' ORDER BY r.application_name), '')
FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid WHERE s.ssl AND r.state = 'streaming'`)
	return s
}

func (c *testCluster) waitSSLReplicas(p *node, timeout time.Duration) {
	c.t.Helper()
	var want []string
	for _, n := range c.others(p) {
		want = append(want, n.name+":/CN=replicator")
	}
	c.eventually("replicas streaming from "+p.name+" over SSL with the replicator's certificate", timeout, func() bool {
		return sslReplicas(p) == strings.Join(want, ",")
	})
}

// TestSecureConnections: a hardened cluster, where TCP admits only SSL with a client
// certificate signed by the CA and only the unix socket trusts. Warden's own connections
// go through the socket (use_unix_socket), replicas stream over SSL with the replicator's
// certificate, a killed primary rejoins through pg_rewind over SSL with the rewind role's
// encrypted key, a switchover works, the local replication check goes through the socket
// or over SSL as use_unix_socket_repl says, and no password or key password is logged.
func TestSecureConnections(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := newPgPKI(t, filepath.Join(c.dir, "pki"), c.owner)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	for _, n := range c.nodes {
		// pg-1 checks its replay timeline through the socket, the others over SSL.
		must(t, os.WriteFile(n.config, []byte(secureYAML(t, c.configFor(n, fast), p, n == n1)), 0o600))
	}

	begin := time.Now()
	c.start(n1)
	c.eventually("pg-1 to be the primary", 60*time.Second, func() bool { return n1.health("/primary") == 200 })
	must(t, socketExec(n1, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	c.start(n2)
	c.start(n3)
	c.waitReplica(n2, 90*time.Second)
	c.waitReplica(n3, 90*time.Second)
	c.waitSSLReplicas(n1, 30*time.Second)
	t.Logf("measured: hardened bootstrap of leader + 2 replicas streaming over SSL in %.2fs", time.Since(begin).Seconds())

	for _, n := range c.nodes {
		v, err := socketString(n, "SELECT count(*)::text FROM pg_stat_activity WHERE application_name = 'Warden' AND client_addr IS NULL AND client_port = -1")
		if err != nil || v == "0" {
			t.Errorf("%s: Warden's own connection is not on the unix socket (%s, %v)", n.name, v, err)
		}
		ci, err := socketString(n, "SELECT COALESCE(current_setting('primary_conninfo'), '')")
		must(t, err)
		if n != n1 && !strings.Contains(ci, "sslmode=verify-ca sslcert="+p.cert("replicator")) {
			t.Errorf("%s: primary_conninfo %q lacks the replication role's options", n.name, ci)
		}
	}

	old := n1
	rows := 0
	for ; rows < 50; rows++ {
		must(t, socketExec(old, "INSERT INTO e2e_rows VALUES ($1)", rows))
	}
	c.eventually("the rows on both replicas", 20*time.Second, func() bool {
		for _, n := range c.others(old) {
			if v, err := socketString(n, "SELECT count(*)::text FROM e2e_rows"); err != nil || v != fmt.Sprint(rows) {
				return false
			}
		}
		return true
	})
	killed := time.Now()
	c.kill9(old)
	np := c.waitPrimary(60 * time.Second)
	c.eventually("a write on the new primary", 30*time.Second, func() bool { return socketExec(np, "INSERT INTO e2e_rows VALUES ($1)", rows) == nil })
	rows++
	t.Logf("measured: kill -9 of the primary's agent and postmaster -> first write on %s after %.2fs", np.name, time.Since(killed).Seconds())
	c.start(old)
	c.waitReplica(old, 90*time.Second)
	if !c.logContains(old, "running pg_rewind from "+np.name) || !c.logContains(old, "pg_rewind finished") {
		t.Errorf("%s rejoined without pg_rewind", old.name)
	}
	if !c.logContains(np, "connection authorized: user=rewinder database=postgres SSL enabled") {
		t.Errorf("%s's server log shows no pg_rewind connection over SSL as the rewind role", np.name)
	}
	c.waitSSLReplicas(np, 30*time.Second)

	// The survivor followed the new leader: its replay timeline came from IDENTIFY_SYSTEM
	// as the replication role over SSL (use_unix_socket_repl off).
	survivor := c.others(np)[0]
	if survivor == old {
		survivor = c.others(np)[1]
	}
	if !c.logContains(survivor, "replication connection authorized: user=replicator application_name=Warden SSL enabled") {
		t.Errorf("%s: no local replication connection over SSL (use_unix_socket_repl off)", survivor.name)
	}

	// Switchover to the survivor: the rejoined pg-1 follows it and checks its timeline
	// through the socket (use_unix_socket_repl on).
	c.switchover(np, survivor)
	c.eventually(survivor.name+" to be the primary", 60*time.Second, func() bool { return c.primary() == survivor })
	for _, n := range c.others(survivor) {
		c.waitReplica(n, 90*time.Second)
	}
	c.waitSSLReplicas(survivor, 30*time.Second)
	must(t, socketExec(survivor, "INSERT INTO e2e_rows VALUES ($1)", rows))
	rows++
	local := regexp.MustCompile(`(?m)replication connection authorized: user=replicator application_name=Warden$`)
	b, err := os.ReadFile(n1.logPath)
	must(t, err)
	if !local.Match(b) {
		t.Errorf("pg-1: no local replication connection through the socket (use_unix_socket_repl on)")
	}
	c.eventually("all rows everywhere", 30*time.Second, func() bool {
		for _, n := range c.nodes {
			if v, err := socketString(n, "SELECT count(*)::text FROM e2e_rows"); err != nil || v != fmt.Sprint(rows) {
				return false
			}
		}
		return true
	})

	for _, n := range c.nodes {
		b, err := os.ReadFile(n.logPath)
		must(t, err)
		for _, secret := range []string{superPassword, replPassword, rewindPass, rewindKeyPassword} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s's log contains a password", n.name)
			}
		}
	}
}

// conninfoLine is the primary_conninfo line of a node's postgresql.conf.
func conninfoLine(n *node) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "data", "postgresql.conf"))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "primary_conninfo") {
			return l
		}
	}
	return ""
}

// startPatroni runs a Patroni agent (its launcher at bin) on n's configuration, as the
// postgres user; the cluster's cleanup kills it by PID like an agent.
func (c *testCluster) startPatroni(n *node, bin string) {
	c.t.Helper()
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(c.t, err)
	cmd := exec.Command(bin, n.config)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid}, Setpgid: true}
	cmd.Dir, cmd.Stdout, cmd.Stderr = n.dir, f, f
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + n.dir, "LANG=C.UTF-8"}
	must(c.t, cmd.Start())
	n.mu.Lock()
	n.cmd, n.log = cmd, f
	n.mu.Unlock()
	go func() { _ = cmd.Wait() }()
}

// TestSecureConnInfoMatchesPatroni: on the same hardened YAML, a replica's
// primary_conninfo is byte for byte the one Patroni 3.0.2 (and 4.1 when unpacked in
// scripts/install-patroni4.sh) writes, once the node's own name, port and directories are put in.
func TestSecureConnInfoMatchesPatroni(t *testing.T) {
	endpoints := startEmbeddedEtcd(t)
	render := func(c *testCluster, p pgPKI) {
		for _, n := range c.nodes {
			must(t, os.WriteFile(n.config, []byte(secureYAML(t, c.configFor(n, fast), p, false)), 0o600))
			must(t, os.Chown(n.config, int(c.owner.uid), int(c.owner.gid)))
		}
	}
	replicaLine := func(c *testCluster, start func(*node)) string {
		start(c.nodes[0])
		c.eventually(c.nodes[0].name+" to be the primary", 90*time.Second, func() bool { return c.nodes[0].health("/primary") == 200 })
		start(c.nodes[1])
		// Patroni 3.0.2's /patroni has no replication_state: the primary's view decides.
		c.eventually(c.nodes[1].name+" to be a replica", 90*time.Second, func() bool { return c.nodes[1].health("/replica") == 200 })
		c.waitSSLReplicas(c.nodes[0], 60*time.Second)
		return conninfoLine(c.nodes[1])
	}
	w := newCluster(t, endpoints, fast)
	w.nodes = w.nodes[:2]
	render(w, newPgPKI(t, filepath.Join(w.dir, "pki"), w.owner))
	want := replicaLine(w, w.start)
	if want == "" {
		t.Fatal("Warden's replica has no primary_conninfo in postgresql.conf")
	}
	needPatroni4(t)
	for _, bin := range []string{"/usr/bin/patroni", patroni4} {
		if _, err := os.Stat(bin); err != nil {
			t.Logf("%s not installed: not compared", bin)
			continue
		}
		pc := newCluster(t, endpoints, fast)
		pc.nodes = pc.nodes[:2]
		pc.scope += "p" + fmt.Sprint(len(bin))
		render(pc, newPgPKI(t, filepath.Join(pc.dir, "pki"), pc.owner))
		got := replicaLine(pc, func(n *node) { pc.startPatroni(n, bin) })
		local := strings.NewReplacer(w.dir, pc.dir, fmt.Sprint(w.nodes[0].pgPort), fmt.Sprint(pc.nodes[0].pgPort)).Replace(want)
		if bin == patroni4 {
			// Patroni 4 adds dbname (for PostgreSQL 17's slot synchronisation); Warden
			// writes 3.x's form (docs/from-patroni.md).
			local = strings.Replace(local, "primary_conninfo = '", "primary_conninfo = 'dbname=postgres ", 1)
		}
		if got != local {
			t.Errorf("%s writes\n  %s\nWarden writes (its values replaced by Patroni's node's)\n  %s", bin, got, local)
		} else {
			t.Logf("%s: primary_conninfo identical: %s", bin, got)
		}
		for _, n := range pc.nodes {
			pc.kill9(n)
		}
	}
}
