package config

import (
	"strings"
	"testing"
)

// TestSampleLoads: the generated sample goes through the real loader without an error
// or a warning, for ordinary and awkward host facts.
func TestSampleLoads(t *testing.T) {
	hosts := map[string]SampleHost{
		"debian":             {Name: "db1", Address: "10.0.0.5", BinDir: "/usr/lib/postgresql/15/bin", DataDir: "/var/lib/postgresql/15/main"},
		"ipv6 and odd names": {Name: "db #1: yes", Address: "fd00::5", DataDir: "/srv/pg data"},
		"numeric host name":  {Name: "1234", Address: "127.0.0.1", DataDir: "/data"},
	}
	for name, h := range hosts {
		t.Run(name, func(t *testing.T) {
			cfg, warns := mustLoad(t, writeFile(t, Sample(h)))
			if len(warns) != 0 {
				t.Errorf("warnings:\n%s", listWarnings(warns))
			}
			if cfg.Name != h.Name || cfg.Scope != FixMe || cfg.PostgreSQL.DataDir != h.DataDir || cfg.PostgreSQL.BinDir != h.BinDir {
				t.Errorf("name %q scope %q data_dir %q bin_dir %q", cfg.Name, cfg.Scope, cfg.PostgreSQL.DataDir, cfg.PostgreSQL.BinDir)
			}
			if cfg.PostgreSQL.Superuser.Password.Reveal() != FixMe || cfg.Log.Format != "text" || cfg.Log.FileNum != 4 {
				t.Errorf("superuser password or log section not as written: %+v", cfg.Log)
			}
			if !strings.Contains(cfg.RestAPI.ConnectAddress, h.Address) || cfg.Bootstrap.Dynamic.TTL.Seconds() != 30 {
				t.Errorf("restapi.connect_address %q ttl %v", cfg.RestAPI.ConnectAddress, cfg.Bootstrap.Dynamic.TTL)
			}
		})
	}
}
