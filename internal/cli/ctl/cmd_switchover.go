package ctl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cluster"
)

type switchoverOptions struct {
	action, leader, candidate, scheduled string
	force                                bool
	scheduledSet                         bool
}

func (a *app) switchoverCommand() *cobra.Command {
	var o switchoverOptions
	cmd := &cobra.Command{
		Use:   "switchover [CLUSTER_NAME]",
		Short: "Switchover to a replica",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.action = "switchover"
			o.scheduledSet = cmd.Flags().Changed("scheduled")
			return a.failoverOrSwitchover(cmd.Context(), args, o)
		},
	}
	addLeaderFlags(cmd, &o)
	cmd.Flags().StringVar(&o.scheduled, "scheduled", "", "Timestamp of a scheduled switchover in unambiguous format (e.g. ISO 8601)")
	addGroupFlag(cmd)
	return cmd
}

func (a *app) failoverCommand() *cobra.Command {
	var o switchoverOptions
	cmd := &cobra.Command{
		Use:   "failover [CLUSTER_NAME]",
		Short: "Failover to a replica",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// patronictl 3.0.2: failover with a leader is a switchover.
			o.action = "failover"
			if o.leader != "" {
				o.action = "switchover"
			}
			o.scheduledSet = true // failover never asks when
			return a.failoverOrSwitchover(cmd.Context(), args, o)
		},
	}
	addLeaderFlags(cmd, &o)
	addGroupFlag(cmd)
	return cmd
}

func addLeaderFlags(cmd *cobra.Command, o *switchoverOptions) {
	f := cmd.Flags()
	f.StringVar(&o.leader, "leader", "", "The name of the current leader")
	f.StringVar(&o.leader, "primary", "", "The name of the current leader")
	f.StringVar(&o.leader, "master", "", "The name of the current leader")
	f.StringVar(&o.candidate, "candidate", "", "The name of the candidate")
	f.BoolVar(&o.force, "force", false, "Do not ask for confirmation at any point")
	_ = f.MarkHidden("master")
}

// switchoverTimeout covers the server side: POST /switchover polls for up to
// 2*max(10, loop_wait) seconds before it answers.
func switchoverTimeout(c *cluster.Cluster) time.Duration {
	loopWait := 10.0
	if v, ok := c.Config["loop_wait"].(float64); ok && v > 0 {
		loopWait = v
	}
	return time.Duration(2*max(10, loopWait)*float64(time.Second)) + 15*time.Second
}

func (a *app) failoverOrSwitchover(ctx context.Context, args []string, o switchoverOptions) error {
	name, err := a.clusterName(args)
	if err != nil {
		return err
	}
	store, err := a.openStore(ctx, a.settings, name)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := store.Load(ctx)
	if err != nil {
		return err
	}
	a.println("Current cluster topology")
	fmt.Fprint(a.out, renderMembers(c, name, false, "pretty"))
	req, scheduledAt, err := a.switchoverRequest(c, name, o)
	if err != nil {
		return err
	}
	if w := candidateLagWarning(c, req.candidate); w != "" {
		a.warn(w)
	}
	if !o.force {
		demote := ""
		if req.leader != "" {
			demote = ", demoting current leader " + req.leader
		}
		q := fmt.Sprintf("Are you sure you want to %s cluster %s%s?", o.action, name, demote)
		abort := "Aborting " + o.action
		if req.scheduledAt != "" {
			q = fmt.Sprintf("Are you sure you want to schedule %s of cluster %s at %s%s?", o.action, name, req.scheduledAt, demote)
			abort = "Aborting scheduled " + o.action
		}
		ok, err := a.confirm(q)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New(abort)
		}
	}
	target, ok := c.LeaderMember()
	if !ok {
		target, _ = c.Member(req.candidate)
	}
	body := map[string]any{"leader": nilIfEmpty(req.leader), "candidate": nilIfEmpty(req.candidate), "scheduled_at": nilIfEmpty(req.scheduledAt)}
	r, err := a.rest.do(ctx, target, "POST", o.action, body, switchoverTimeout(c))
	if err != nil {
		a.printf("%s Could not %s using Patroni api, falling back to DCS\n", a.timestamp(6), o.action)
		f := cluster.Failover{Leader: req.leader, Candidate: req.candidate}
		if !scheduledAt.IsZero() {
			f.ScheduledAt = req.scheduledAt
		}
		if _, err := store.SetFailover(ctx, cluster.EncodeFailover(&f), -1); err != nil {
			return err
		}
		fmt.Fprint(a.out, renderMembers(c, name, false, "pretty"))
		return nil
	}
	if r.Status != 200 && r.Status != 202 {
		a.printf("%s failed, details: %d, %s\n", titleWord(o.action), r.Status, r.Body)
		return nil
	}
	if fresh, err := store.Load(ctx); err == nil {
		c = fresh
	}
	a.printf("%s %s\n", a.timestamp(6), r.Body)
	fmt.Fprint(a.out, renderMembers(c, name, false, "pretty"))
	return nil
}

type failoverRequest struct{ leader, candidate, scheduledAt string }

// switchoverRequest validates and prompts as patronictl's _do_failover_or_switchover.
func (a *app) switchoverRequest(c *cluster.Cluster, name string, o switchoverOptions) (failoverRequest, time.Time, error) {
	var none time.Time
	if o.action == "switchover" && !c.Locked() {
		return failoverRequest{}, none, errors.New("This cluster has no leader")
	}
	leader := o.leader
	if leader == "" {
		if o.force || o.action == "failover" {
			leader = c.LeaderName()
		} else {
			label := "Primary"
			if isStandbyCluster(c) {
				label = "Standby Leader"
			}
			var err error
			if leader, err = a.ask(label, c.LeaderName(), true); err != nil {
				return failoverRequest{}, none, err
			}
		}
	}
	if leader != "" && c.Locked() && c.LeaderName() != leader {
		return failoverRequest{}, none, fmt.Errorf("Member %s is not the leader of cluster %s", leader, name)
	}
	var candidates []string
	for _, m := range c.Members {
		if m.Name != leader && !m.NoFailover() {
			candidates = append(candidates, m.Name)
		}
	}
	sort.Strings(candidates)
	if len(candidates) == 0 {
		return failoverRequest{}, none, fmt.Errorf("No candidates found to %s to", o.action)
	}
	candidate := o.candidate
	if candidate == "" && !o.force {
		var err error
		if candidate, err = a.ask("Candidate "+pyList(candidates), "", true); err != nil {
			return failoverRequest{}, none, err
		}
	}
	if o.action == "failover" && candidate == "" {
		return failoverRequest{}, none, errors.New("Failover could be performed only to a specific candidate")
	}
	if candidate == leader {
		return failoverRequest{}, none, fmt.Errorf("%s target and source are the same.", titleWord(o.action))
	}
	if candidate != "" && !contains(candidates, candidate) {
		return failoverRequest{}, none, fmt.Errorf("Member %s does not exist in cluster %s", candidate, name)
	}
	req := failoverRequest{leader: leader, candidate: candidate}
	var at time.Time
	if o.action == "switchover" {
		scheduled := o.scheduled
		if !o.scheduledSet && !o.force {
			example := a.now().Add(time.Hour).Format("2006-01-02T15:04")
			var err error
			if scheduled, err = a.ask("When should the switchover take place (e.g. "+example+" ) ", "now", true); err != nil {
				return failoverRequest{}, none, err
			}
		}
		var err error
		if at, err = parseScheduled(scheduled, a.now().Location()); err != nil {
			return failoverRequest{}, none, err
		}
		if !at.IsZero() {
			if isPaused(c) {
				return failoverRequest{}, none, errors.New("Can't schedule switchover in the paused state")
			}
			req.scheduledAt = isoformat(at)
		}
	}
	return req, at, nil
}

// parseScheduled accepts "now"/"" (immediately) or a timestamp; a naive one gets loc.
func parseScheduled(s string, loc *time.Location) (time.Time, error) {
	if s == "" || s == "now" {
		return time.Time{}, nil
	}
	withZone := []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999-0700", "2006-01-02T15:04-07:00", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04-07:00"}
	for _, l := range withZone {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	naive := []string{"2006-01-02T15:04:05.999999", "2006-01-02T15:04", "2006-01-02 15:04:05.999999", "2006-01-02 15:04", "2006-01-02"}
	for _, l := range naive {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("Unable to parse scheduled timestamp (%s). It should be in an unambiguous format (e.g. ISO 8601)", s)
}

// isoformat is Python's datetime.isoformat() for an aware datetime.
func isoformat(t time.Time) string {
	layout := "2006-01-02T15:04:05"
	if t.Nanosecond()/1000 != 0 {
		layout += ".000000"
	}
	return t.Format(layout + "-07:00")
}

func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func titleWord(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// candidateLagWarning says how far the chosen candidate is behind the most advanced
// position known (the leader's, or the most advanced member's when there is no leader),
// when that is more than maximum_lag_on_failover or unknown: promoting it loses the
// transactions it has not received.
func candidateLagWarning(c *cluster.Cluster, candidate string) string {
	m, ok := c.Member(candidate)
	if candidate == "" || !ok {
		return ""
	}
	maxLag := uint64(1048576)
	if v, ok := c.Config["maximum_lag_on_failover"].(float64); ok && v >= 0 {
		maxLag = uint64(v)
	}
	var head uint64
	source := "the leader"
	if l, ok := c.LeaderMember(); ok {
		head = max(c.Status.Optime, l.WAL())
	} else {
		source = "the most advanced member"
		for _, p := range c.Members {
			head = max(head, p.WAL())
		}
	}
	if m.XLogLocation == nil {
		return fmt.Sprintf("the WAL position of candidate %s is unknown; it may be behind %s and lose transactions", candidate, source)
	}
	if head <= m.WAL() || head-m.WAL() <= maxLag {
		return ""
	}
	return fmt.Sprintf("candidate %s is %d bytes behind %s (maximum_lag_on_failover is %d); promoting it loses the transactions it has not received", candidate, head-m.WAL(), source, maxLag)
}
