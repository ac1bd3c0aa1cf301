package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// servedAPI runs the real listener (timeouts, request-line fixer) on a loopback port.
func servedAPI(t *testing.T) string {
	t.Helper()
	src := &fakeSource{}
	src.st.Store(primaryStatus())
	s := New(src, Options{Listen: "127.0.0.1:0", Controller: &recordingController{src: src}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addr()
}

// TestSlowHeadersCutOff: a client dribbling its request headers one byte a second
// (slowloris) is disconnected once readHeaderTimeout has passed, and meanwhile the API
// keeps answering others.
func TestSlowHeadersCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("takes readHeaderTimeout of wall-clock time")
	}
	addr := servedAPI(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(began)
	}()
	request := "GET /patroni HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case took := <-closed:
			if took < readHeaderTimeout-time.Second || took > readHeaderTimeout+2*time.Second {
				t.Fatalf("connection closed after %s, want about readHeaderTimeout (%s)", took, readHeaderTimeout)
			}
			return
		case <-tick.C:
		}
		if i == 2 {
			resp, err := (&http.Client{Timeout: time.Second}).Get(fmt.Sprintf("http://%s/patroni", addr))
			if err != nil {
				t.Fatalf("the API stopped answering while a slow client is connected: %v", err)
			}
			resp.Body.Close()
		}
		if i >= len(request) || time.Since(began) > readHeaderTimeout+3*time.Second {
			t.Fatalf("the slow client was still connected after %s", time.Since(began))
		}
		// A write error also means the server has gone.
		if _, err := conn.Write([]byte{request[i]}); err != nil {
			return
		}
	}
}

// TestOversizedChunkedBody: without a Content-Length the body limit still holds. PATCH
// /config answers 411 as Patroni does (net/http moves Transfer-Encoding out of r.Header,
// so readBody's chunked exception never applies); POST /restart reads the body and
// stops at 64 KiB with 413. Nothing is changed either way.
func TestOversizedChunkedBody(t *testing.T) {
	big := func() io.Reader {
		return io.MultiReader(strings.NewReader(`{"role":"`), strings.NewReader(strings.Repeat("x", 70<<10)), strings.NewReader(`"}`))
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{{"PATCH", "/config", http.StatusLengthRequired}, {"POST", "/restart", http.StatusRequestEntityTooLarge}} {
		src := &fakeSource{cluster: actionCluster()}
		src.st.Store(primaryStatus())
		ctrl := &recordingController{src: src}
		s := New(src, Options{Controller: ctrl}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		srv := httptest.NewServer(s.Handler())
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, big())
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.code || len(ctrl.changes) > 0 {
			t.Errorf("chunked oversized %s %s: %d, changes %v; want %d and none", tc.method, tc.path, resp.StatusCode, ctrl.changes, tc.code)
		}
	}
}

func actionCluster() *cluster.Cluster {
	return &cluster.Cluster{Leader: &cluster.Leader{Name: "pg-1"}, Config: map[string]any{"ttl": float64(30)}}
}
