//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (c *testCluster) api(n *node, method, path string, body any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("http://%s:%d%s", n.host, n.apiPort, path), rd)
	must(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (c *testCluster) up(t *testing.T) *node {
	for _, n := range c.nodes {
		c.start(n)
	}
	p := c.waitPrimary(60 * time.Second)
	for _, n := range c.others(p) {
		c.waitReplica(n, 60*time.Second)
	}
	must(t, c.exec(p, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	return p
}

// TestSwitchover: POST /switchover moves the primary with a short write gap and loses no
// acknowledged write; the old primary streams from the new one.
func TestSwitchover(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	old := c.up(t)
	target := c.others(old)[0]
	for round := 0; round < 2; round++ {
		pr := c.startProber(1 + round*100000)
		time.Sleep(time.Second)
		began := time.Now()
		code, msg := c.api(old, "POST", "/switchover", map[string]any{"leader": old.name, "candidate": target.name})
		if code != 200 || msg != fmt.Sprintf("Successfully switched over to %q", target.name) {
			pr.finish()
			t.Fatalf("switchover: %d %q", code, msg)
		}
		took := time.Since(began)
		time.Sleep(time.Second)
		acks, gap := pr.finish()
		t.Logf("measured: switchover %s -> %s: longest write gap %.3fs, API answered after %.2fs", old.name, target.name, gap.Seconds(), took.Seconds())
		c.eventually(target.name+" to be the primary", 10*time.Second, func() bool { return c.primary() == target })
		c.waitReplica(old, 60*time.Second)
		var missing int
		for _, id := range acks {
			v, err := c.queryInt(target, fmt.Sprintf("SELECT count(*) FROM e2e_rows WHERE id = %d", id))
			if err != nil || v != 1 {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("%d of %d acknowledged writes are missing after the switchover", missing, len(acks))
		}
		if !c.logContains(old, "switchover: demoting myself") {
			t.Error("the old leader did not log Patroni's switchover line")
		}
		old, target = target, old
	}

	t.Run("refused requests", func(t *testing.T) {
		c.t = t
		p := c.waitPrimary(10 * time.Second)
		r := c.others(p)[0]
		for _, tc := range []struct {
			body any
			code int
			msg  string
		}{
			{map[string]any{"candidate": r.name}, 400, "Switchover could be performed only from a specific leader"},
			{map[string]any{"leader": r.name, "candidate": p.name}, 412, "leader name does not match"},
			{map[string]any{"leader": p.name, "candidate": "nobody"}, 412, "candidate does not exists"},
			{map[string]any{"leader": p.name, "candidate": p.name}, 400, "Switchover target and source are the same"},
			{map[string]any{"leader": p.name, "scheduled_at": "2020-01-01T00:00:00+00:00"}, 422, "Cannot schedule switchover in the past"},
			{map[string]any{"leader": p.name, "scheduled_at": "2099-01-01T00:00"}, 400, "Timezone information is mandatory for the scheduled switchover"},
			{[]int{1}, 400, "the request body must be a JSON object"},
		} {
			code, msg := c.api(p, "POST", "/switchover", tc.body)
			if code != tc.code || msg != tc.msg {
				t.Errorf("POST /switchover %v = %d %q, want %d %q", tc.body, code, msg, tc.code, tc.msg)
			}
		}
		if c.primary() != p {
			t.Error("a refused request changed the primary")
		}
	})

	t.Run("scheduled switchover", func(t *testing.T) {
		c.t = t
		p := c.waitPrimary(10 * time.Second)
		r := c.others(p)[0]
		at := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
		code, msg := c.api(p, "POST", "/switchover", map[string]any{"leader": p.name, "candidate": r.name, "scheduled_at": at})
		if code != 202 || msg != "Switchover scheduled" {
			t.Fatalf("scheduled switchover: %d %q", code, msg)
		}
		if c.primary() != p {
			t.Fatal("switched before the scheduled time")
		}
		c.eventually("the scheduled switchover", 20*time.Second, func() bool { return c.primary() == r })
		for _, o := range c.others(r) {
			c.waitReplica(o, 60*time.Second)
		}
	})

	t.Run("failover to a replica", func(t *testing.T) {
		c.t = t
		p := c.waitPrimary(10 * time.Second)
		r := c.others(p)[1]
		// A candidate still rewinding is refused (412, no good candidates), as in Patroni.
		c.waitReplica(r, 60*time.Second)
		code, msg := c.api(p, "POST", "/failover", map[string]any{"candidate": r.name})
		if code != 200 || msg != fmt.Sprintf("Successfully failed over to %q", r.name) {
			t.Fatalf("failover: %d %q", code, msg)
		}
		c.waitReplica(p, 60*time.Second)
	})
}
