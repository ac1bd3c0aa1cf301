package agent

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
)

func TestEncodeDynamicCacheLikePython(t *testing.T) {
	raw := map[string]any{"ttl": 20, "loop_wait": 2, "postgresql": map[string]any{"use_slots": true, "parameters": map[string]any{"wal_log_hints": "on"}},
		"slots": map[string]any{}, "list": []any{1, "a", map[string]any{"x": nil}}}
	b, err := EncodeDynamicCache(raw)
	if err != nil {
		t.Fatal(err)
	}
	// What json.dump(..., sort_keys=True) writes for the same value.
	want := `{"list": [1, "a", {"x": null}], "loop_wait": 2, "postgresql": {"parameters": {"wal_log_hints": "on"}, "use_slots": true}, "slots": {}, "ttl": 20}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestDynamicCacheSavedAndLoaded(t *testing.T) {
	dir := t.TempDir()
	if _, _, ok, err := LoadDynamicCache(dir); ok || err != nil {
		t.Fatalf("no file: ok=%v err=%v", ok, err)
	}
	raw := map[string]any{"ttl": float64(40), "loop_wait": float64(5), "retry_timeout": float64(10), "postgresql": map[string]any{"parameters": map[string]any{"max_connections": float64(110)}}}
	d, _ := config.ParseDynamic(raw)
	a := &Agent{opts: Options{DataDir: dir}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.dynamic.Store(&d)

	sysid := "7300000000000000001"
	ours := &cluster.Cluster{Initialize: &sysid}
	obs := Observation{}
	obs.SysID = sysid
	foreign := obs
	foreign.SysID = "7399999999999999999"
	path := filepath.Join(dir, DynamicCacheFile)
	for name, c := range map[string]struct {
		cl  *cluster.Cluster
		obs Observation
	}{"another cluster's data directory": {ours, foreign}, "no DCS": {nil, obs}, "unknown system identifier": {ours, Observation{}}} {
		a.saveDynamicCache(c.cl, c.obs)
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s: written: %v", name, err)
		}
	}
	a.saveDynamicCache(ours, obs)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600 (Patroni's mkstemp)", st.Mode().Perm())
	}
	gotRaw, got, ok, err := LoadDynamicCache(dir)
	if !ok || err != nil {
		t.Fatalf("load: ok=%v err=%v", ok, err)
	}
	if got.TTL != d.TTL || got.LoopWait != d.LoopWait || gotRaw["postgresql"] == nil {
		t.Errorf("loaded %+v, want ttl %s loop_wait %s", got, d.TTL, d.LoopWait)
	}

	// Not rewritten while unchanged; an empty data directory gets none.
	must(t, os.Remove(path))
	a.saveDynamicCache(ours, obs)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("rewritten although unchanged: %v", err)
	}
	empty := &Agent{opts: Options{DataDir: t.TempDir()}, log: a.log}
	empty.dynamic.Store(&d)
	emptyObs := obs
	emptyObs.DataDirEmpty = true
	empty.saveDynamicCache(ours, emptyObs)
	if _, err := os.Stat(filepath.Join(empty.opts.DataDir, DynamicCacheFile)); !os.IsNotExist(err) {
		t.Errorf("written into an empty data directory: %v", err)
	}

	must(t, os.WriteFile(path, []byte("{not json"), 0o600))
	if _, _, ok, err := LoadDynamicCache(dir); ok || err == nil {
		t.Errorf("broken file: ok=%v err=%v, want an error", ok, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
