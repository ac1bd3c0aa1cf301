package ctl

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
)

func (a *app) pauseCommand(paused bool) *cobra.Command {
	var wait bool
	use, short := "pause", "Disable auto failover"
	if !paused {
		use, short = "resume", "Resume auto failover"
	}
	cmd := &cobra.Command{
		Use:   use + " [CLUSTER_NAME]",
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.clusterName(args)
			if err != nil {
				return err
			}
			return a.withCluster(cmd.Context(), name, func(store dcs.Store, c *cluster.Cluster) error {
				return a.togglePause(cmd.Context(), store, c, paused, wait)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "Wait until pause is applied on all nodes")
	addGroupFlag(cmd)
	return cmd
}

func word(paused bool, yes, no string) string {
	if paused {
		return yes
	}
	return no
}

func (a *app) togglePause(ctx context.Context, store dcs.Store, c *cluster.Cluster, paused, wait bool) error {
	if isPaused(c) == paused {
		return fmt.Errorf("Cluster is %s paused", word(paused, "already", "not"))
	}
	// resume deletes the key rather than writing false, as patronictl does.
	body := map[string]any{"pause": nil}
	if paused {
		body["pause"] = true
	}
	for _, m := range leaderFirst(c) {
		r, err := a.rest.do(ctx, m, "PATCH", "config", body, defaultRESTTimeout)
		if err != nil {
			a.warn(err.Error())
			a.warn(fmt.Sprintf("Member %s is not accessible", m.Name))
			continue
		}
		if r.Status != 200 {
			a.printf("Failed: %s cluster management status code=%d, (%s)\n", word(paused, "pause", "resume"), r.Status, r.Body)
			return nil
		}
		if wait {
			return a.waitPause(ctx, store, c, paused)
		}
		a.printf("Success: cluster management is %s\n", word(paused, "paused", "resumed"))
		return nil
	}
	return fmt.Errorf("Can not find accessible cluster member")
}

// waitPause polls the store until every member that was there has published the new
// pause flag, for up to loop_wait+1 seconds.
func (a *app) waitPause(ctx context.Context, store dcs.Store, old *cluster.Cluster, paused bool) error {
	a.printf("'%s' request sent, waiting until it is recognized by all nodes\n", word(paused, "pause", "resume"))
	before := map[string]int64{}
	for _, m := range old.Members {
		if m.APIURL != "" {
			before[m.Name] = m.Revision
		}
	}
	loopWait := 10.0
	if v, ok := old.Config["loop_wait"].(float64); ok {
		loopWait = v
	}
	deadline := time.Now().Add(time.Duration((loopWait + 1) * float64(time.Second)))
	var c *cluster.Cluster
	for {
		var err error
		if c, err = store.Load(ctx); err == nil {
			done := true
			for _, m := range c.Members {
				if _, ok := before[m.Name]; ok && m.Pause != paused {
					done = false
				}
			}
			if done {
				a.printf("Success: cluster management is %s\n", word(paused, "paused", "resumed"))
				return nil
			}
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	var remaining []string
	if c != nil {
		for _, m := range c.Members {
			if rev, ok := before[m.Name]; ok && m.Pause != paused && rev != m.Revision {
				remaining = append(remaining, m.Name)
			}
		}
	}
	if len(remaining) > 0 {
		a.printf("%s members didn't recognized pause state after %s seconds\n", strings.Join(remaining, ", "), pyStr(loopWait))
		return nil
	}
	a.printf("Success: cluster management is %s\n", word(paused, "paused", "resumed"))
	return nil
}
