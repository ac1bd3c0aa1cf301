package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary documents through the whole loader: it must
// return a config or an error, never panic or hang, and a config must
// survive Redacted and a re-parse of its dynamic part.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "seed", "*.yml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "")
	}
	f.Add(baseConfig, "PATRONI_ETCD3_HOSTS=a,b")
	f.Add(baseConfig+"bootstrap:\n  dcs: {ttl: x}\n", "PATRONI_RESTAPI_HTTP_EXTRA_HEADERS=a: [")
	f.Add("a: &a [*a]\n", "")
	f.Fuzz(func(t *testing.T, doc, envLine string) {
		path := filepath.Join(t.TempDir(), "f.yml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, warns, err := Load(path, []string{envLine, "HOME=/h"})
		if (cfg == nil) == (err == nil) {
			t.Fatalf("want exactly one of config and error: %v", err)
		}
		for _, w := range warns {
			_ = w.String()
		}
		if cfg != nil {
			_ = cfg.Redacted()
			_, _ = ParseDynamic(cfg.Bootstrap.DCS)
		}
		_, _, _ = Load("", []string{"PATRONI_CONFIGURATION=" + doc})
	})
}
