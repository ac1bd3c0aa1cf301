package cli

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
)

type answering map[string]bool

func (a answering) Answers(_ context.Context, apiURL string) bool { return a[apiURL] }

func TestEnsureUniqueName(t *testing.T) {
	backend := dcstest.NewBackend(time.Now)
	backend.Put("/service/t/members/pg-1", []byte(`{"api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"master"}`))
	store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: 30 * time.Second, RetryTimeout: 10 * time.Second})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	err := ensureUniqueName(ctx, store, answering{"http://127.0.0.1:8008/patroni": true}, "pg-1", time.Second, log)
	if err == nil || err.Error() != "Can't start; there is already a node named 'pg-1' running" {
		t.Errorf("a running namesake: %v", err)
	}
	if err := ensureUniqueName(ctx, store, answering{}, "pg-1", time.Second, log); err != nil {
		t.Errorf("a key left by a crashed agent nobody answers for: %v", err)
	}
	if err := ensureUniqueName(ctx, store, answering{"http://127.0.0.1:8008/patroni": true}, "pg-2", time.Second, log); err != nil {
		t.Errorf("another name: %v", err)
	}
	backend.SetReachable("pg-1", false)
	if err := ensureUniqueName(ctx, store, answering{"http://127.0.0.1:8008/patroni": true}, "pg-1", 100*time.Millisecond, log); err != nil {
		t.Errorf("DCS unreachable: %v (the agent starts and waits for the DCS as usual)", err)
	}
}
