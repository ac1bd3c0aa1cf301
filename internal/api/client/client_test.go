package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

const wardenPrimary = `{"state":"running","postmaster_start_time":"2024-08-28 19:30:00.123456+00:00","role":"primary","server_version":150002,"xlog":{"location":100000000},"timeline":2,"dcs_last_seen":1724873964,"tags":{"datacenter":"dc1"},"database_system_identifier":"7408210384392712345","patroni":{"version":"3.0.2","scope":"batman","name":"pg-1"}}`

const wardenStopped = `{"state":"stopped","role":"replica","dcs_last_seen":1724873964,"patroni":{"version":"3.0.2","scope":"batman","name":"pg-3"}}`

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStatus(t *testing.T) {
	cases := []struct {
		name string
		body string
		code int
		want PeerStatus
	}{
		{"warden primary", wardenPrimary, 200, PeerStatus{Name: "pg-1", State: "running", Role: cluster.RolePrimary, HasWAL: true,
			WAL: 100000000, Timeline: 2, FailoverPriority: 1}},
		{"warden stopped replica", wardenStopped, 200, PeerStatus{Name: "pg-3", State: "stopped", Role: cluster.RoleReplica,
			InRecovery: true, FailoverPriority: 1}},
		{"patroni 3.0.2 master", readFile(t, "testdata/patroni-3.0.2-master.json"), 200, PeerStatus{State: "running", HasWAL: true,
			Role: cluster.RolePrimary, WAL: 18446744073709551000, Timeline: 3, FailoverPriority: 3}},
		{"patroni 3.0.2 replica", readFile(t, "testdata/patroni-3.0.2-replica.json"), 200, PeerStatus{State: "running", HasWAL: true,
			Role: cluster.RoleReplica, InRecovery: true, WAL: 50331880, ReceivedLSN: 50331880, ReplayedLSN: 50331800,
			Timeline: 3, NoFailover: true, FailoverPriority: 0, WatchdogFailed: true}},
		{"patroni answers 503 with a body", readFile(t, "testdata/patroni-3.0.2-replica.json"), 503, PeerStatus{State: "running", HasWAL: true,
			Role: cluster.RoleReplica, InRecovery: true, WAL: 50331880, ReceivedLSN: 50331880, ReplayedLSN: 50331800,
			Timeline: 3, NoFailover: true, FailoverPriority: 0, WatchdogFailed: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/patroni" || r.Method != http.MethodGet {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			got, err := New(Options{}).Status(context.Background(), srv.URL+"/patroni")
			if err != nil {
				t.Fatal(err)
			}
			if got.Raw == nil || got.Raw["state"] != tc.want.State {
				t.Fatalf("Raw = %v", got.Raw)
			}
			got.Raw, got.Tags = nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestStatusTags(t *testing.T) {
	ps, err := ParseStatus([]byte(readFile(t, "testdata/patroni-3.0.2-replica.json")))
	if err != nil {
		t.Fatal(err)
	}
	if ps.Tags["nofailover"] != true || ps.Tags["clonefrom"] != true {
		t.Fatalf("tags = %v", ps.Tags)
	}
}

func TestStatusErrors(t *testing.T) {
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>oops</html>", http.StatusBadGateway)
	}))
	defer garbage.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/patroni"
	ln.Close()

	c := New(Options{Timeout: 200 * time.Millisecond})
	for _, url := range []string{garbage.URL + "/patroni", slow.URL + "/patroni", closed, "://bad"} {
		_, err := c.Status(context.Background(), url)
		if err == nil || !strings.Contains(err.Error(), url) {
			t.Fatalf("%s: err = %v, want an error naming the URL", url, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx, slow.URL+"/patroni"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestStatusBasicAuthAndReuse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "s3cret" {
			t.Errorf("basic auth = %q %q %v", u, p, ok)
		}
		_, _ = w.Write([]byte(wardenPrimary))
	}))
	defer srv.Close()
	c := New(Options{Username: "admin", Password: "s3cret"})
	reused := 0
	for range 3 {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if info.Reused {
					reused++
				}
			},
		})
		if _, err := c.Status(ctx, srv.URL+"/patroni"); err != nil {
			t.Fatal(err)
		}
	}
	if reused != 2 {
		t.Fatalf("reused connections %d times, want 2", reused)
	}
}
