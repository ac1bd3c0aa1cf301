//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPatronictlDrivesWarden points Patroni's own patronictl (Debian's 3.0.2) at a Warden
// cluster: each verb must succeed and change the cluster as it would a Patroni cluster.
func TestPatronictlDrivesWarden(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	r := c.others(p)[0]

	out := c.patronictl("list")
	if !strings.Contains(out, "Leader") || strings.Count(out, "Replica") != 2 {
		t.Fatalf("list:\n%s", out)
	}

	out = c.patronictl("switchover", "--leader", p.name, "--candidate", r.name, "--force")
	if !strings.Contains(out, "Successfully switched over to \""+r.name+"\"") {
		t.Fatalf("switchover:\n%s", out)
	}
	c.eventually(r.name+" to be the primary after patronictl switchover", 10*time.Second, func() bool { return c.primary() == r })
	c.waitReplica(p, 60*time.Second)

	hist := c.patronictl("history")
	if !strings.Contains(hist, r.name) {
		t.Errorf("history does not show the switchover to %s:\n%s", r.name, hist)
	}

	before := p.status()["postmaster_start_time"]
	out = c.patronictl("restart", p.name, "--force")
	if !strings.Contains(out, "Success: restart on member "+p.name) {
		t.Fatalf("restart:\n%s", out)
	}
	c.waitReplica(p, 60*time.Second)
	if after := p.status()["postmaster_start_time"]; after == before {
		t.Errorf("restart did not restart PostgreSQL on %s (start time %v)", p.name, after)
	}

	out = c.patronictl("reload", "--force")
	if !strings.Contains(out, "Reload request received for member") {
		t.Fatalf("reload:\n%s", out)
	}

	out = c.patronictl("edit-config", "-s", "maximum_lag_on_failover=2097152", "--force")
	if !strings.Contains(out, "Configuration changed") {
		t.Fatalf("edit-config:\n%s", out)
	}
	if cfg := c.patronictl("show-config"); !strings.Contains(cfg, "maximum_lag_on_failover: 2097152") {
		t.Errorf("show-config after edit-config:\n%s", cfg)
	}

	out = c.patronictl("pause", "--wait")
	if !strings.Contains(out, "Success: cluster management is paused") {
		t.Fatalf("pause:\n%s", out)
	}
	if list := c.patronictl("list"); !strings.Contains(list, "Maintenance mode: on") {
		t.Errorf("list while paused:\n%s", list)
	}
	// Paused: a killed replica postmaster is not restarted.
	victim := c.others(c.waitPrimary(10 * time.Second))[0]
	pm := victim.postmasterPid()
	must(t, killGroup(pm))
	time.Sleep(3 * time.Duration(fast.loopWait) * time.Second)
	if np := victim.postmasterPid(); np != 0 && np != pm && alive(np) {
		t.Errorf("paused cluster restarted %s's postmaster", victim.name)
	}
	out = c.patronictl("resume", "--wait")
	if !strings.Contains(out, "Success: cluster management is resumed") {
		t.Fatalf("resume:\n%s", out)
	}
	c.waitReplica(victim, 60*time.Second)
}
