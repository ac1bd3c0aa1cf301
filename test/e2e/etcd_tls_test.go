//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/youmark/pkcs8"
)

// pki is what the seed workshop makes with cfssl: a CA, a server certificate for etcd
// (IP SAN 127.0.0.1) and a client certificate for the members; plus an unrelated CA for
// the failure cases. Files are owned by the postgres user, mode 0600, in a 0755 directory.
type pki struct {
	dir                          string
	ca, otherCA                  string
	serverCert, serverKey        string
	clientCert, clientKey        string
	otherClientCert, otherClient string // signed by otherCA
	// clientKeyEncrypted is clientKey as PKCS#8 encrypted with clientKeyPassword.
	clientKeyEncrypted string
}

const clientKeyPassword = "e2e-key-password"

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(t *testing.T, owner osUser) *pki {
	t.Helper()
	dir, err := os.MkdirTemp("", "warden-e2e-pki-")
	must(t, err)
	must(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &pki{dir: dir}
	write := func(name string, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		must(t, os.Chown(path, int(owner.uid), int(owner.gid)))
		return path
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *issuer) (*issuer, []byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
		signer, signKey := tmpl, key
		if parent != nil {
			signer, signKey = parent.cert, parent.key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
		must(t, err)
		cert, err := x509.ParseCertificate(der)
		must(t, err)
		kb, err := x509.MarshalECPrivateKey(key)
		must(t, err)
		return &issuer{cert, key}, der, kb
	}
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	}
	leaf := func(cn string, usage ...x509.ExtKeyUsage) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: usage, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	}
	ca, der, _ := issue(caTmpl("warden-e2e-ca"), nil)
	p.ca = write("ca.pem", "CERTIFICATE", der)
	other, der, _ := issue(caTmpl("someone-else-ca"), nil)
	p.otherCA = write("other-ca.pem", "CERTIFICATE", der)
	_, der, kb := issue(leaf("etcd", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), ca)
	p.serverCert, p.serverKey = write("server.pem", "CERTIFICATE", der), write("server-key.pem", "EC PRIVATE KEY", kb)
	_, der, kb = issue(leaf("warden", x509.ExtKeyUsageClientAuth), ca)
	p.clientCert, p.clientKey = write("client.pem", "CERTIFICATE", der), write("client-key.pem", "EC PRIVATE KEY", kb)
	clientKey, err := x509.ParseECPrivateKey(kb)
	must(t, err)
	enc, err := pkcs8.MarshalPrivateKey(clientKey, []byte(clientKeyPassword), nil)
	must(t, err)
	p.clientKeyEncrypted = write("client-key-encrypted.pem", "ENCRYPTED PRIVATE KEY", enc)
	_, der, kb = issue(leaf("intruder", x509.ExtKeyUsageClientAuth), other)
	p.otherClientCert, p.otherClient = write("intruder.pem", "CERTIFICATE", der), write("intruder-key.pem", "EC PRIVATE KEY", kb)
	return p
}

// tlsEtcd is Debian's etcd serving clients over HTTPS with client-certificate auth.
type tlsEtcd struct {
	host string // 127.0.0.1:<port>, as written in hosts:
	pki  *pki
}

func startDebianEtcdTLS(t *testing.T, p *pki) *tlsEtcd {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("Debian's etcd-server is not installed (apt-get install etcd-server)")
	}
	dir := t.TempDir()
	client, peer := freePort(t), freePort(t)
	clientURL := fmt.Sprintf("https://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	must(t, err)
	cmd := exec.Command(bin, "--name", "e2e", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e="+peerURL,
		"--cert-file", p.serverCert, "--key-file", p.serverKey,
		"--client-cert-auth", "--trusted-ca-file", p.ca)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			lines := strings.Split(string(b), "\n")
			if len(lines) > 20 {
				lines = lines[len(lines)-20:]
			}
			t.Logf("---- last lines of the TLS etcd's log ----\n%s", strings.Join(lines, "\n"))
		}
	})
	e := &tlsEtcd{host: fmt.Sprintf("127.0.0.1:%d", client), pki: p}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := e.etcdctl("", "endpoint", "health"); err == nil {
			return e
		}
		if time.Now().After(deadline) {
			out, _ := e.etcdctl("", "endpoint", "health")
			t.Fatalf("TLS etcd not healthy within 20s: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcdctl runs Debian's etcdctl (v3 API) with the members' client certificate; user is
// "name:password" or empty.
func (e *tlsEtcd) etcdctl(user string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := []string{"--endpoints", "https://" + e.host, "--cacert", e.pki.ca, "--cert", e.pki.clientCert, "--key", e.pki.clientKey}
	if user != "" {
		full = append(full, "--user", user)
	}
	cmd := exec.CommandContext(ctx, "etcdctl", append(full, args...)...)
	cmd.Env = []string{"ETCDCTL_API=3", "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *tlsEtcd) mustEtcdctl(t *testing.T, user string, args ...string) string {
	t.Helper()
	out, err := e.etcdctl(user, args...)
	if err != nil {
		t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
	}
	return out
}

// dcsTLS is the etcd3 section's TLS part as the seed workshop writes it.
func dcsTLS(cacert, cert, key string) string {
	return fmt.Sprintf("  protocol: https\n  cacert: %s\n  cert: %s\n  key: %s\n", cacert, cert, key)
}

// failedStart runs the agent with a config derived from n's and expects it to exit with an
// error within limit; it returns the combined output and how long it ran.
func (c *testCluster) failedStart(n *node, name, cfg string, env []string, limit time.Duration) (string, time.Duration) {
	c.t.Helper()
	path := filepath.Join(n.dir, name)
	must(c.t, os.WriteFile(path, []byte(cfg), 0o600))
	must(c.t, os.Chown(path, int(c.owner.uid), int(c.owner.gid)))
	ctx, cancel := context.WithTimeout(context.Background(), limit+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wardenBin, path)
	cmd.Dir = n.dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + n.dir, "LANG=C"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid}, Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	if err == nil || ctx.Err() != nil {
		c.t.Fatalf("%s: the agent did not fail at start (err=%v after %s):\n%s", name, err, took, out)
	}
	if took > limit {
		c.t.Errorf("%s: the agent took %s to fail, want under %s:\n%s", name, took, limit, out)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "data")); err == nil {
		c.t.Errorf("%s: the agent touched PostgreSQL before the DCS was usable", name)
	}
	return string(out), took
}

// TestEtcdTLS: Debian's etcd over HTTPS with client-certificate auth, certificates made by
// the test; the cluster bootstraps and fails over; a member with the wrong CA, or without a
// client certificate, stops at start within retry_timeout naming the host and the reason.
func TestEtcdTLS(t *testing.T) {
	owner := postgresUser(t)
	p := newPKI(t, owner)
	e := startDebianEtcdTLS(t, p)
	c := newCluster(t, []string{e.host}, fast)
	c.dcsExtra = dcsTLS(p.ca, p.clientCert, p.clientKey)
	c.writeConfigs(fast)
	retry := time.Duration(fast.retryTimeout) * time.Second

	t.Run("wrong CA fails at start", func(t *testing.T) {
		c.t = t
		n := c.nodes[0]
		cfg := strings.Replace(c.configFor(n, fast), "cacert: "+p.ca, "cacert: "+p.otherCA, 1)
		out, took := c.failedStart(n, "wrong-ca.yml", cfg, nil, retry+5*time.Second)
		t.Logf("wrong CA: exit after %.2fs: %s", took.Seconds(), lastLine(out))
		for _, want := range []string{e.host, "certificate signed by unknown authority", "cacert"} {
			if !strings.Contains(out, want) {
				t.Errorf("the start error does not say %q:\n%s", want, out)
			}
		}
	})
	t.Run("no client certificate fails at start", func(t *testing.T) {
		c.t = t
		n := c.nodes[0]
		cfg := strings.Replace(c.configFor(n, fast), dcsTLS(p.ca, p.clientCert, p.clientKey), "  protocol: https\n  cacert: "+p.ca+"\n", 1)
		out, took := c.failedStart(n, "no-client-cert.yml", cfg, nil, retry+5*time.Second)
		t.Logf("no client certificate: exit after %.2fs: %s", took.Seconds(), lastLine(out))
		if !strings.Contains(out, e.host) || !strings.Contains(strings.ToLower(out), "certificate") {
			t.Errorf("the start error does not name the host and the certificate problem:\n%s", out)
		}
	})
	t.Run("client certificate from another CA fails at start", func(t *testing.T) {
		c.t = t
		n := c.nodes[0]
		cfg := strings.Replace(c.configFor(n, fast), dcsTLS(p.ca, p.clientCert, p.clientKey), dcsTLS(p.ca, p.otherClientCert, p.otherClient), 1)
		out, took := c.failedStart(n, "intruder.yml", cfg, nil, retry+5*time.Second)
		t.Logf("foreign client certificate: exit after %.2fs: %s", took.Seconds(), lastLine(out))
		if !strings.Contains(out, e.host) || !strings.Contains(strings.ToLower(out), "certificate") {
			t.Errorf("the start error does not name the host and the certificate problem:\n%s", out)
		}
	})

	t.Run("encrypted client key with a wrong key_password fails at start", func(t *testing.T) {
		c.t = t
		n := c.nodes[0]
		cfg := strings.Replace(c.configFor(n, fast), dcsTLS(p.ca, p.clientCert, p.clientKey),
			dcsTLS(p.ca, p.clientCert, p.clientKeyEncrypted)+"  key_password: not-the-password\n", 1)
		out, took := c.failedStart(n, "wrong-key-password.yml", cfg, nil, retry+5*time.Second)
		t.Logf("wrong key_password: exit after %.2fs: %s", took.Seconds(), lastLine(out))
		if !strings.Contains(out, p.clientKeyEncrypted) || !strings.Contains(out, "wrong password") || strings.Contains(out, "not-the-password") {
			t.Errorf("the start error does not name the key file and the reason (or shows the password):\n%s", out)
		}
	})

	t.Run("bootstrap and failover", func(t *testing.T) {
		c.t = t
		old := c.up(t)
		killed := time.Now()
		c.kill9(old)
		w, took := c.timeToWrite(killed, 1, 60*time.Second)
		t.Logf("measured: kill -9 of primary -> first write on %s after %.2fs over etcd TLS with client certificates", w.name, took.Seconds())
		c.start(old)
		c.waitReplica(old, 90*time.Second)
		// The member restarts with its client key encrypted, as key_password allows.
		r := c.others(c.waitPrimary(10 * time.Second))[0]
		c.stop(r)
		cfg := strings.Replace(c.configFor(r, fast), dcsTLS(p.ca, p.clientCert, p.clientKey),
			dcsTLS(p.ca, p.clientCert, p.clientKeyEncrypted)+"  key_password: "+clientKeyPassword+"\n", 1)
		must(t, os.WriteFile(r.config, []byte(cfg), 0o600))
		c.start(r)
		c.waitReplica(r, 60*time.Second)
		if c.logContains(r, clientKeyPassword) {
			t.Error("the key password is in the agent's log")
		}
		keys := e.mustEtcdctl(t, "", "get", "--prefix", "--keys-only", "/service/"+c.scope+"/")
		for _, k := range []string{"/leader", "/members/pg-1", "/config"} {
			if !strings.Contains(keys, "/service/"+c.scope+k) {
				t.Errorf("key %s missing in the TLS etcd:\n%s", k, keys)
			}
		}
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

const (
	etcdRootPassword   = "e2e-etcd-root-secret"
	etcdWardenPassword = "e2e-etcd-warden-secret"
	restPassword       = "e2e-rest-secret"
	wrongPassword      = "e2e-wrong-secret"
)

// enableEtcdAuth creates root, a role limited to the cluster prefix and a user for the
// members, then turns authentication on, as the seed workshop does with etcdctl.
func (e *tlsEtcd) enableEtcdAuth(t *testing.T, prefix string) {
	t.Helper()
	e.mustEtcdctl(t, "", "user", "add", "root:"+etcdRootPassword)
	if out, err := e.etcdctl("", "user", "grant-role", "root", "root"); err != nil && !strings.Contains(out, "already") {
		t.Fatalf("grant root: %v\n%s", err, out)
	}
	e.mustEtcdctl(t, "", "role", "add", "warden")
	e.mustEtcdctl(t, "", "role", "grant-permission", "warden", "--prefix=true", "readwrite", prefix)
	e.mustEtcdctl(t, "", "user", "add", "warden:"+etcdWardenPassword)
	e.mustEtcdctl(t, "", "user", "grant-role", "warden", "warden")
	e.mustEtcdctl(t, "", "role", "add", "elsewhere")
	e.mustEtcdctl(t, "", "role", "grant-permission", "elsewhere", "--prefix=true", "readwrite", "/service/elsewhere/")
	e.mustEtcdctl(t, "", "user", "add", "outsider:"+etcdWardenPassword)
	e.mustEtcdctl(t, "", "user", "grant-role", "outsider", "elsewhere")
	e.mustEtcdctl(t, "", "auth", "enable")
}

// apiAs calls a member's REST API with basic auth (empty user: none).
func apiAs(n *node, method, path, user, pass string, body string) (int, string) {
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", n.apiPort, path), strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// checkModes: the data directory is 0700 and every file Warden keeps next to it or at
// its top that holds a password is 0600 or stricter.
func (c *testCluster) checkModes(t *testing.T, when string, secrets []string) {
	t.Helper()
	for _, n := range c.nodes {
		data := filepath.Join(n.dir, "data")
		info, err := os.Stat(data)
		must(t, err)
		if info.Mode().Perm() != 0o700 {
			t.Errorf("%s: %s data directory mode = %v, want 0700", when, n.name, info.Mode().Perm())
		}
		for _, dir := range []string{n.dir, data} {
			entries, err := os.ReadDir(dir)
			must(t, err)
			for _, ent := range entries {
				if !ent.Type().IsRegular() {
					continue
				}
				path := filepath.Join(dir, ent.Name())
				b, err := os.ReadFile(path)
				must(t, err)
				info, err := os.Stat(path)
				must(t, err)
				for _, s := range secrets {
					if strings.Contains(string(b), s) && info.Mode().Perm()&0o077 != 0 {
						t.Errorf("%s: %s holds a password and has mode %v, want 0600", when, path, info.Mode().Perm())
						break
					}
				}
			}
		}
		// A bootstrapped primary has no pgpass until it follows or rewinds.
		if info, err := os.Stat(filepath.Join(n.dir, "pgpass")); err == nil && info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s pgpass mode = %v, want 0600", when, n.name, info.Mode().Perm())
		}
	}
}

// TestEtcdAuth is the seed workshop's last step: etcd over HTTPS with client certificates
// and authentication, the members' etcd user limited by its role to the cluster prefix.
// The REST API asks for basic auth (given through PATRONI_* variables). After bootstrap,
// a switchover and a failover with pg_rewind, no password appears in any log, API
// response, show-config output or start-up error, and the files holding one are 0600.
func TestEtcdAuth(t *testing.T) {
	owner := postgresUser(t)
	p := newPKI(t, owner)
	e := startDebianEtcdTLS(t, p)
	c := newCluster(t, []string{e.host}, fast)
	prefix := "/service/" + c.scope + "/"
	e.enableEtcdAuth(t, prefix)
	withUser := func(user, pass string) string {
		return dcsTLS(p.ca, p.clientCert, p.clientKey) + fmt.Sprintf("  username: %s\n  password: %s\n", user, pass)
	}
	c.dcsExtra = withUser("warden", etcdWardenPassword)
	c.env = []string{"PATRONI_RESTAPI_USERNAME=admin", "PATRONI_RESTAPI_PASSWORD=" + restPassword}
	c.writeConfigs(fast)
	secrets := []string{superPassword, replPassword, rewindPass, etcdRootPassword, etcdWardenPassword, restPassword, wrongPassword}
	retry := time.Duration(fast.retryTimeout) * time.Second
	var startErrors []string

	t.Run("wrong password fails at start", func(t *testing.T) {
		c.t = t
		n := c.nodes[0]
		cfg := strings.Replace(c.configFor(n, fast), withUser("warden", etcdWardenPassword), withUser("warden", wrongPassword), 1)
		out, took := c.failedStart(n, "wrong-password.yml", cfg, c.env, retry+5*time.Second)
		t.Logf("wrong etcd password: exit after %.2fs: %s", took.Seconds(), lastLine(out))
		if !strings.Contains(out, e.host) || !strings.Contains(out, "authentication failed") || !strings.Contains(out, `"warden"`) {
			t.Errorf("the start error does not name the host, the user and the reason:\n%s", out)
		}
		startErrors = append(startErrors, out)
	})
	t.Run("role outside the prefix fails at start", func(t *testing.T) {
		c.t = t
		n := c.nodes[0]
		cfg := strings.Replace(c.configFor(n, fast), withUser("warden", etcdWardenPassword), withUser("outsider", etcdWardenPassword), 1)
		out, took := c.failedStart(n, "outsider.yml", cfg, c.env, retry+5*time.Second)
		t.Logf("role without the prefix: exit after %.2fs: %s", took.Seconds(), lastLine(out))
		if !strings.Contains(out, "permission denied") || !strings.Contains(out, prefix) {
			t.Errorf("the start error does not say permission denied on %s:\n%s", prefix, out)
		}
		startErrors = append(startErrors, out)
	})

	t.Run("bootstrap, switchover, failover", func(t *testing.T) {
		c.t = t
		old := c.up(t)
		c.checkModes(t, "after basebackup", secrets)
		target := c.others(old)[0]
		// What the leader decides on is the DCS view, which lags the replica's own /patroni
		// by up to a loop: wait for /cluster to show the target streaming without lag.
		c.eventually(target.name+" streaming in /cluster", 30*time.Second, func() bool {
			var cl struct {
				Members []struct {
					Name, State string
					Lag         any
				}
			}
			if json.Unmarshal([]byte(getBody(old, "/cluster")), &cl) != nil {
				return false
			}
			for _, m := range cl.Members {
				if m.Name == target.name {
					return (m.State == "streaming" || m.State == "running") && fmt.Sprint(m.Lag) == "0"
				}
			}
			return false
		})
		body := fmt.Sprintf(`{"leader":%q,"candidate":%q}`, old.name, target.name)
		if code, msg := apiAs(old, "POST", "/switchover", "", "", body); code != 401 {
			t.Errorf("switchover without credentials: %d %q, want 401", code, msg)
		}
		if code, msg := apiAs(old, "POST", "/switchover", "admin", wrongPassword, body); code != 401 {
			t.Errorf("switchover with a wrong password: %d %q, want 401", code, msg)
		}
		if c.primary() != old {
			t.Fatal("the primary changed after refused switchovers")
		}
		if code, msg := apiAs(old, "POST", "/switchover", "admin", restPassword, body); code != 200 {
			t.Fatalf("switchover: %d %q", code, msg)
		}
		c.eventually(target.name+" to be the primary", 30*time.Second, func() bool { return c.primary() == target })
		c.waitReplica(old, 60*time.Second)
		for _, n := range c.others(target) {
			c.waitReplica(n, 60*time.Second)
		}
		killed := time.Now()
		c.kill9(target)
		w, took := c.timeToWrite(killed, 1, 60*time.Second)
		t.Logf("measured: kill -9 of primary -> first write on %s after %.2fs with etcd TLS + auth", w.name, took.Seconds())
		c.start(target)
		c.waitReplica(target, 90*time.Second)
		if !c.logContains(target, "running pg_rewind from") {
			t.Logf("%s rejoined without pg_rewind", target.name)
		}
		c.checkModes(t, "after failover and rejoin", secrets)
	})

	t.Run("no password anywhere", func(t *testing.T) {
		c.t = t
		var seen []string
		scan := func(what, text string) {
			seen = append(seen, what)
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("%s contains the password %q", what, s)
				}
			}
		}
		for i, out := range startErrors {
			scan(fmt.Sprintf("failed start %d", i), out)
		}
		for _, n := range c.nodes {
			b, err := os.ReadFile(n.logPath)
			must(t, err)
			scan(n.name+" log", string(b))
			for _, path := range []string{"/patroni", "/cluster", "/config", "/history", "/metrics", "/health", "/liveness"} {
				code, body := apiAs(n, "GET", path, "", "", "")
				if code == 0 {
					t.Errorf("GET %s on %s: %s", path, n.name, body)
				}
				scan(fmt.Sprintf("GET %s on %s", path, n.name), body)
			}
		}
		for _, verb := range [][]string{{"show-config"}, {"list"}, {"history"}, {"topology"}} {
			out, err := c.ctl(verb...)
			if err != nil {
				t.Errorf("warden ctl %v: %v\n%s", verb, err, out)
			}
			scan("warden ctl "+verb[0], out)
		}
		t.Logf("scanned for %d passwords: %s", len(secrets), strings.Join(seen, ", "))
	})
}
