package etcd3

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// TestPatronictlListsWardenCluster is the compatibility promise: Patroni's own CLI reads
// what Warden writes.
func TestPatronictlListsWardenCluster(t *testing.T) {
	bin, err := exec.LookPath("patronictl")
	if err != nil {
		t.Skipf("patronictl not installed: %v", err)
	}
	const scope = "batman"
	ctx := t.Context()
	namespace := fmt.Sprintf("/ns%d/", prefixSeq.Add(1))
	prefix := namespace + scope + "/"
	stores := map[string]*Store{}
	for i, name := range []string{"pg1", "pg2", "pg3"} {
		s := newStore(t, name, prefix, 30*time.Second)
		stores[name] = s
		role := cluster.RoleReplica
		if name == "pg1" {
			role = cluster.RolePrimary
		}
		lsn := uint64(0x3000060)
		m := cluster.Member{
			Name: name, ConnURL: fmt.Sprintf("postgres://127.0.0.%d:5432/postgres", i+1),
			APIURL: fmt.Sprintf("http://127.0.0.%d:8008/patroni", i+1), State: "running",
			Role: role, Version: cluster.Version, XLogLocation: &lsn, Timeline: 2,
		}
		if err := s.TouchMember(ctx, cluster.EncodeMember(m)); err != nil {
			t.Fatal(err)
		}
	}
	leader := stores["pg1"]
	if ok, err := leader.AcquireLeader(ctx); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	writes := []func() error{
		func() error { _, err := leader.Initialize(ctx, true, "7268616322854375442"); return err },
		func() error {
			_, err := leader.SetConfig(ctx, cluster.EncodeConfig(map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}), 0)
			return err
		},
		func() error { return leader.SetStatus(ctx, cluster.EncodeStatus(cluster.Status{Optime: 0x3000060})) },
		func() error {
			return leader.SetHistory(ctx, cluster.EncodeHistory([]cluster.HistoryEntry{{Timeline: 1, LSN: 0x3000000, Reason: "no recovery target specified", Timestamp: "2024-01-01T10:00:00+00:00", NewLeader: "pg1"}}))
		},
	}
	for _, w := range writes {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}

	cfg := filepath.Join(t.TempDir(), "patronictl.yml")
	yml := "scope: " + scope + "\nnamespace: " + namespace + "\netcd3:\n  hosts: " +
		strings.TrimPrefix(embedded.Endpoints()[0], "http://") + "\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runPatronictl(ctx, t, bin, "-c", cfg, "list", scope)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\|\s*pg1\s*\|\s*127\.0\.0\.1\s*\|\s*Leader\s*\|\s*running\s*\|\s*2\s*\|`),
		regexp.MustCompile(`\|\s*pg2\s*\|\s*127\.0\.0\.2\s*\|\s*Replica\s*\|\s*running\s*\|\s*2\s*\|\s*0\s*\|`),
		regexp.MustCompile(`\|\s*pg3\s*\|\s*127\.0\.0\.3\s*\|\s*Replica\s*\|\s*running\s*\|\s*2\s*\|\s*0\s*\|`),
		regexp.MustCompile(`Cluster: ` + scope),
	} {
		if !want.MatchString(out) {
			t.Errorf("patronictl list output lacks %s:\n%s", want, out)
		}
	}
	if hist := runPatronictl(ctx, t, bin, "-c", cfg, "history", scope); !strings.Contains(hist, "no recovery target specified") {
		t.Errorf("patronictl history does not show the entry:\n%s", hist)
	}
	t.Logf("patronictl list:\n%s", out)
}

func runPatronictl(ctx context.Context, t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("patronictl %v: %v\n%s", args, err, out)
	}
	return string(out)
}
