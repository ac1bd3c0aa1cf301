package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/warden-ha/warden/internal/dcs"
)

// answerer is the part of the REST client the start-up check needs.
type answerer interface {
	Answers(ctx context.Context, apiURL string) bool
}

// ensureUniqueName refuses to start when a member key with this node's name exists and
// an agent answers at its api_url, as Patroni 4 does: two agents under one name would
// share one member key and fight over one leader key. An agent restarted after a crash
// finds its old key but nobody answering, and starts.
func ensureUniqueName(ctx context.Context, store dcs.Store, peers answerer, name string, timeout time.Duration, log *slog.Logger) error {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := store.Load(lctx)
	if err != nil {
		log.Warn("could not check whether a node with this name is already running", "err", err)
		return nil
	}
	m, ok := cl.Member(name)
	if !ok || m.APIURL == "" {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if peers.Answers(actx, m.APIURL) {
		//lint:ignore ST1005 Patroni's words, which operators' log rules match
		return fmt.Errorf("Can't start; there is already a node named '%s' running", name)
	}
	return nil
}
