//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pgMajor is the major of the PostgreSQL under test (pgBin).
func pgMajor(t *testing.T) int {
	t.Helper()
	out, err := exec.Command(filepath.Join(pgBin, "postgres"), "--version").Output()
	if err != nil {
		t.Fatalf("%s/postgres --version: %v", pgBin, err)
	}
	m := regexp.MustCompile(`\(PostgreSQL\) (\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("postgres --version: %q", out)
	}
	major, _ := strconv.Atoi(m[1])
	return major
}

// TestMajorParameters: a setting only the major under test knows (summarize_wal from 17,
// io_method from 18) reaches postgresql.conf and SHOW on every node; one the major does
// not know (summarize_wal on 15) and a misspelled one are left out by every agent with
// the hint for that major, and validate-config names the nearest valid name.
func TestMajorParameters(t *testing.T) {
	major := pgMajor(t)
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	params := "      parameters:\n        summarise_wal: 'on'\n        summarize_wal: 'on'\n"
	if major >= 18 {
		params += "        io_method: sync\n"
	}
	c.bootstrapDCS = params
	c.writeConfigs(fast)
	c.upAll(60 * time.Second)

	// On 15 the nearest name is one of a later major, and the hint says so.
	hint := "did you mean summarize_wal?"
	if major < 17 {
		hint = fmt.Sprintf("did you mean summarize_wal? new in PostgreSQL 17, this is %d", major)
	}
	misspelled := fmt.Sprintf(`on": PostgreSQL %d has no parameter summarise_wal (%s)`, major, hint)
	for _, n := range c.nodes {
		conf, err := os.ReadFile(filepath.Join(n.dir, "data", "postgresql.conf"))
		must(t, err)
		if strings.Contains(string(conf), "summarise_wal") {
			t.Errorf("%s: the misspelled name reached postgresql.conf:\n%s", n.name, conf)
		}
		if !c.logContains(n, "removing summarise_wal=") || !c.logContains(n, misspelled) {
			t.Errorf("%s: no warning %q", n.name, misspelled)
		}
		if v, ok := n.status()["server_version"].(float64); !ok || int(v)/10000 != major {
			t.Errorf("%s: server_version %v, want PostgreSQL %d", n.name, n.status()["server_version"], major)
		}
		if major < 17 {
			if strings.Contains(string(conf), "summarize_wal") || !c.logContains(n, fmt.Sprintf("PostgreSQL %d has no parameter summarize_wal (new in PostgreSQL 17, this is %d)", major, major)) {
				t.Errorf("%s: summarize_wal on PostgreSQL %d is not left out with its hint:\n%s", n.name, major, conf)
			}
			continue
		}
		if !strings.Contains(string(conf), "summarize_wal = 'on'") {
			t.Errorf("%s: postgresql.conf lacks summarize_wal:\n%s", n.name, conf)
		}
		if v := c.show(n, "summarize_wal"); v != "on" {
			t.Errorf("%s: SHOW summarize_wal = %q", n.name, v)
		}
		if major >= 18 {
			if v := c.show(n, "io_method"); v != "sync" {
				t.Errorf("%s: SHOW io_method = %q, want sync", n.name, v)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, wardenBin, "validate-config", c.nodes[0].config).CombinedOutput()
	if err != nil {
		t.Fatalf("validate-config: %v\n%s", err, out)
	}
	want := fmt.Sprintf("bootstrap.dcs.postgresql.parameters.summarise_wal: PostgreSQL %d has no parameter summarise_wal (%s)", major, hint)
	if !strings.Contains(string(out), want) {
		t.Errorf("validate-config does not name the nearest valid name (%q):\n%s", want, out)
	}
	if major >= 17 && strings.Contains(string(out), "parameters.summarize_wal") {
		t.Errorf("validate-config warns about a valid PostgreSQL %d name:\n%s", major, out)
	}
}
