package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// memberState is the part of a member's GET /patroni a rolling restart waits on.
type memberState struct {
	State            string `json:"state"`
	Role             string `json:"role"`
	StartTime        string `json:"postmaster_start_time"`
	PendingRestart   bool   `json:"pending_restart"`
	ReplicationState string `json:"replication_state"`
	XLog             struct {
		Location         *uint64 `json:"location"`
		ReplayedLocation *uint64 `json:"replayed_location"`
	} `json:"xlog"`
}

func (s memberState) primary() bool { return cluster.Role(s.Role).IsPrimary() }

func (a *app) memberState(ctx context.Context, m cluster.Member) (memberState, error) {
	r, err := a.rest.do(ctx, m, "GET", "patroni", nil, defaultRESTTimeout)
	if err != nil {
		return memberState{}, err
	}
	var st memberState
	if err := json.Unmarshal([]byte(r.Body), &st); err != nil {
		return memberState{}, fmt.Errorf("member %s: GET /patroni answered %d: %w", m.Name, r.Status, err)
	}
	return st, nil
}

// rollingOrder puts the replicas first, in name order, and the leader last: a replica
// restarted with a raised max_connections (or another setting a standby must hold at
// least as high as its primary) can replay the primary's raise, while the reverse order
// stops the replicas' replay until they restart.
func rollingOrder(leader string, ms []cluster.Member) []cluster.Member {
	out := append([]cluster.Member(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool {
		li, lj := out[i].Name == leader, out[j].Name == leader
		if li != lj {
			return lj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// rollingRestart restarts the members one at a time, replicas first and the leader last,
// each only after the previous one is running again (a replica streaming again). A
// replica that does not come back stops it before the leader is touched. With switchover
// the leader is not restarted in place: it is switched over to a healthy replica, which
// stops it and starts it again as a replica, so writes pause only for the switchover.
// Replicas restarted before the leader that still have a pending restart after it (a
// lowered max_connections reaches a standby only through the primary's WAL) are
// restarted once more after they replayed the leader's restart.
func (a *app) rollingRestart(ctx context.Context, c *cluster.Cluster, ms []cluster.Member, body map[string]any, switchover bool) error {
	leader := c.LeaderName()
	var restarted []cluster.Member
	var primary *cluster.Member
	for _, m := range rollingOrder(leader, ms) {
		if m.Name == leader {
			primary = &m
			break
		}
		ok, err := a.restartAndWait(ctx, m, body, leader != "")
		if err != nil {
			return err
		}
		if ok {
			restarted = append(restarted, m)
		}
	}
	if primary == nil {
		if switchover {
			return errors.New("--switchover: the leader is not among the members to restart")
		}
		return nil
	}
	if switchover {
		return a.switchoverInstead(ctx, c, *primary, ms, body)
	}
	ok, err := a.restartAndWait(ctx, *primary, body, false)
	if err != nil || !ok {
		return err
	}
	return a.restartStillPending(ctx, *primary, restarted, body)
}

// restartAndWait restarts the member and, when it did, waits until it is back with a new
// postmaster: its status from before the restart must not count as back.
func (a *app) restartAndWait(ctx context.Context, m cluster.Member, body map[string]any, stream bool) (bool, error) {
	before, _ := a.memberState(ctx, m)
	ok, err := a.restartOne(ctx, m, body)
	if err != nil || !ok {
		return false, err
	}
	return true, a.waitBack(ctx, m, stream, before.StartTime)
}

// restartOne sends POST /restart and prints patronictl's line; ok means it restarted.
func (a *app) restartOne(ctx context.Context, m cluster.Member, body map[string]any) (bool, error) {
	r, err := a.rest.do(ctx, m, "POST", "restart", body, restartTimeout)
	if err != nil {
		return false, err
	}
	switch r.Status {
	case 200:
		a.printf("Success: restart on member %s\n", m.Name)
		return true, nil
	case 202:
		a.printf("Success: restart scheduled on member %s\n", m.Name)
	case 409:
		a.printf("Failed: another restart is already scheduled on member %s\n", m.Name)
	default:
		a.printf("Failed: restart for member %s, status code=%d, (%s)\n", m.Name, r.Status, r.Body)
	}
	return false, nil
}

// waitBack waits until the member runs again, with a postmaster started after oldStart
// when that is known; a replica also until it streams when the cluster has a leader to
// stream from.
func (a *app) waitBack(ctx context.Context, m cluster.Member, stream bool, oldStart string) error {
	what := "running"
	if stream {
		what = "running and streaming"
	}
	return a.waitMember(ctx, m, what, func(st memberState) bool {
		return st.State == "running" && (oldStart == "" || st.StartTime != oldStart) &&
			(!stream || st.primary() || st.ReplicationState == "streaming")
	})
}

func (a *app) waitMember(ctx context.Context, m cluster.Member, what string, ready func(memberState) bool) error {
	deadline := time.Now().Add(a.backWait)
	for {
		st, err := a.memberState(ctx, m)
		if err == nil && ready(st) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("member %s is not %s %s after its restart; stopping the rolling restart", m.Name, what, a.backWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.poll):
		}
	}
}

// switchoverInstead hands the leader key to a healthy replica; the old leader stops and
// starts again as a replica, which is its restart. It is restarted once more only if it
// still has a pending restart then.
func (a *app) switchoverInstead(ctx context.Context, c *cluster.Cluster, primary cluster.Member, ms []cluster.Member, body map[string]any) error {
	candidate, err := a.switchoverCandidate(ctx, c, primary.Name)
	if err != nil {
		return err
	}
	sw := map[string]any{"leader": primary.Name, "candidate": candidate.Name, "scheduled_at": nil}
	r, err := a.rest.do(ctx, primary, "POST", "switchover", sw, switchoverTimeout(c))
	if err != nil {
		return err
	}
	if r.Status != 200 {
		return fmt.Errorf("switchover from %s to %s failed (%d, %s); %s was not restarted", primary.Name, candidate.Name, r.Status, r.Body, primary.Name)
	}
	a.printf("%s %s\n", a.timestamp(6), r.Body)
	if err := a.waitMember(ctx, candidate, "the new primary", func(st memberState) bool { return st.State == "running" && st.primary() }); err != nil {
		return err
	}
	if err := a.waitBack(ctx, primary, true, ""); err != nil {
		return err
	}
	st, err := a.memberState(ctx, primary)
	if err != nil {
		return err
	}
	if !st.PendingRestart {
		a.printf("Success: member %s restarted as a replica by the switchover\n", primary.Name)
		return nil
	}
	_, err = a.restartAndWait(ctx, primary, body, true)
	return err
}

// switchoverCandidate is the first replica (in name order) that may be promoted and is
// running and streaming.
func (a *app) switchoverCandidate(ctx context.Context, c *cluster.Cluster, leader string) (cluster.Member, error) {
	others := rollingOrder(leader, c.Members)
	for _, m := range others {
		if m.Name == leader || m.NoFailover() {
			continue
		}
		if st, err := a.memberState(ctx, m); err == nil && st.State == "running" && !st.primary() && st.ReplicationState == "streaming" {
			return m, nil
		}
	}
	return cluster.Member{}, fmt.Errorf("--switchover: no running, streaming replica to switch over to; %s was not restarted", leader)
}

// restartStillPending restarts again the replicas that still have a pending restart
// after the leader's, once each has replayed past the leader's position after it.
func (a *app) restartStillPending(ctx context.Context, primary cluster.Member, replicas []cluster.Member, body map[string]any) error {
	var pending []cluster.Member
	for _, m := range replicas {
		if st, err := a.memberState(ctx, m); err == nil && st.PendingRestart {
			pending = append(pending, m)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	pst, err := a.memberState(ctx, primary)
	if err != nil || pst.XLog.Location == nil {
		return fmt.Errorf("read the position of %s after its restart: %v", primary.Name, err)
	}
	at := *pst.XLog.Location
	for _, m := range pending {
		a.printf("Member %s still has a pending restart after the primary's; restarting it again once it has replayed the primary's restart\n", m.Name)
		err := a.waitMember(ctx, m, "past "+cluster.FormatLSN(at), func(st memberState) bool {
			return st.XLog.ReplayedLocation != nil && *st.XLog.ReplayedLocation >= at
		})
		if err != nil {
			return err
		}
		if _, err := a.restartAndWait(ctx, m, body, true); err != nil {
			return err
		}
	}
	return nil
}
