package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkPrimaryCheck measures the handler cost of HAProxy's OPTIONS /master check.
func BenchmarkPrimaryCheck(b *testing.B) {
	s, _ := newTestServer(b, primaryStatus())
	h := s.Handler()
	req := httptest.NewRequest(http.MethodOptions, "/master", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("code %d", rec.Code)
			}
		}
	})
}

// BenchmarkPrimaryCheckGET includes the JSON body, cached per published status.
func BenchmarkPrimaryCheckGET(b *testing.B) {
	s, _ := newTestServer(b, primaryStatus())
	h := s.Handler()
	req := httptest.NewRequest(http.MethodGet, "/primary", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkPrimaryCheckKeepAlive goes through a real listener over keep-alive.
func BenchmarkPrimaryCheckKeepAlive(b *testing.B) {
	s := startServer(b, primaryStatus())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	url := "http://" + s.Addr() + "/master"
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodOptions, url, nil)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("code %d", resp.StatusCode)
			}
		}
	})
}
