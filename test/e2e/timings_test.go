//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAdjustedTimings: timings that break ttl >= loop_wait + 2*retry_timeout start a cluster
// (a watchdog-style bootstrap.dcs ttl 20 / loop_wait 2 / retry_timeout 10) and are accepted
// by PATCH /config, as Patroni does; every agent runs with the adjusted values, which a
// failover after the PATCH shows (the new ttl bounds it), and says so once.
func TestAdjustedTimings(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), timings{ttl: 20, loopWait: 2, retryTimeout: 10, primaryStartTimeout: 300})
	p := c.up(t)
	for _, n := range c.nodes {
		c.eventually(n.name+" logs the adjusted bootstrap timings", 10*time.Second, func() bool {
			return c.logContains(n, "Adjusting loop_wait from 2 to 1 and retry_timeout from 10 to 9 (in effect: ttl=20 loop_wait=1 retry_timeout=9)")
		})
	}

	req, err := http.NewRequest("PATCH", fmt.Sprintf("http://%s:%d/config", p.host, p.apiPort), strings.NewReader(`{"ttl":8,"loop_wait":5,"retry_timeout":3}`))
	must(t, err)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	note := `Violated the rule "loop_wait + 2*retry_timeout <= ttl", where ttl=8 and retry_timeout=3. Adjusting loop_wait from 5 to 2 (in effect: ttl=8 loop_wait=2 retry_timeout=3)`
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"loop_wait":5`) || !strings.Contains(resp.Header.Get("Warning"), `Adjusting loop_wait from 5 to 2`) {
		t.Fatalf("PATCH /config = %d %s, Warning %q", resp.StatusCode, body, resp.Header.Get("Warning"))
	}
	for _, n := range c.nodes {
		c.eventually(n.name+" applies the adjusted timings", 20*time.Second, func() bool {
			return c.logContains(n, note) && c.logContains(n, "applied dynamic configuration ttl=8s loop_wait=2s retry_timeout=3s")
		})
	}
	if out := c.mustCtl("show-config"); !strings.Contains(out, "loop_wait: 5\n") || !strings.Contains(out, "# "+note) {
		t.Fatalf("show-config:\n%s", out)
	}
	for _, n := range c.nodes {
		if got := strings.Count(readFile(n.logPath), note); got != 1 {
			t.Errorf("%s logged the note %d times, want once", n.name, got)
		}
	}

	// The cluster works with them: the replicas stream, and a failover happens within the
	// new ttl rather than the old one.
	for _, n := range c.others(p) {
		c.waitReplica(n, 30*time.Second)
	}
	killed := time.Now()
	c.kill9(p)
	next, took := c.timeToWrite(killed, 1, 60*time.Second)
	t.Logf("kill -9 of %s: %s accepted the first write %s later (ttl 8 s in effect)", p.name, next.name, took.Round(100*time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("failover took %s: the ttl of 8 s is not in effect", took)
	}
}
