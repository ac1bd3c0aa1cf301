package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
)

// selectMembers is patronictl's get_members: the members with role (optionally only
// the named ones), the table shown first unless --force without -r, and a prompt when
// nothing was named.
func (a *app) selectMembers(c *cluster.Cluster, name string, names []string, role string, roleSet, force bool, action string, confirm bool) ([]cluster.Member, error) {
	members := roleMembers(c, role)
	var candidates []string
	for _, m := range members {
		candidates = append(candidates, m.Name)
	}
	sort.Strings(candidates)
	if !force || roleSet {
		if len(names) == 0 && len(candidates) == 0 {
			return nil, fmt.Errorf("%s cluster doesn't have any members", name)
		}
		fmt.Fprint(a.out, renderMembers(c, name, false, "pretty"))
	}
	if len(names) > 0 {
		var kept []string
		for _, n := range names {
			if contains(candidates, n) && !contains(kept, n) {
				kept = append(kept, n)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("No %s among provided members", role)
		}
		names = kept
	} else if action != "reinitialize" {
		names = candidates
	}
	if len(names) == 0 && !force {
		n, err := a.ask(fmt.Sprintf("Which member do you want to %s [%s]?", action, strings.Join(candidates, ", ")), "", true)
		if err != nil {
			return nil, err
		}
		names = []string{n}
	}
	for _, n := range names {
		if !contains(candidates, n) {
			return nil, fmt.Errorf("%s is not a member of cluster", n)
		}
	}
	var out []cluster.Member
	for _, m := range members {
		if contains(names, m.Name) {
			out = append(out, m)
		}
	}
	if confirm {
		if err := a.confirmMembers(out, force, action, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (a *app) confirmMembers(ms []cluster.Member, force bool, action, scheduledAt string) error {
	if force {
		return nil
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	q := fmt.Sprintf("Are you sure you want to %s members %s?", action, strings.Join(names, ", "))
	abort := "Aborted " + action
	if scheduledAt != "" {
		q = fmt.Sprintf("Are you sure you want to schedule %s of members %s at %s?", action, strings.Join(names, ", "), scheduledAt)
		abort = "Aborted scheduled " + action
	}
	ok, err := a.confirm(q)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New(abort)
	}
	return nil
}

type memberAction struct {
	role  string
	force bool
}

func addMemberFlags(cmd *cobra.Command, o *memberAction, roleHelp string) {
	cmd.Flags().StringVarP(&o.role, "role", "r", "any", roleHelp)
	cmd.Flags().BoolVar(&o.force, "force", false, "Do not ask for confirmation at any point")
}

func (a *app) memberCommandPrelude(cmd *cobra.Command, args []string, o memberAction, f func(ctx context.Context, store dcs.Store, c *cluster.Cluster, name string, names []string, roleSet bool) error) error {
	if err := checkRole(o.role); err != nil {
		return err
	}
	name := args[0]
	return a.withCluster(cmd.Context(), name, func(store dcs.Store, c *cluster.Cluster) error {
		return f(cmd.Context(), store, c, name, args[1:], cmd.Flags().Changed("role"))
	})
}

func (a *app) reloadCommand() *cobra.Command {
	var o memberAction
	cmd := &cobra.Command{
		Use:   "reload CLUSTER_NAME [MEMBER_NAMES...]",
		Short: "Reload cluster member configuration",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.memberCommandPrelude(cmd, args, o, func(ctx context.Context, _ dcs.Store, c *cluster.Cluster, name string, names []string, roleSet bool) error {
				ms, err := a.selectMembers(c, name, names, o.role, roleSet, o.force, "reload", true)
				if err != nil {
					return err
				}
				for _, m := range ms {
					r, err := a.rest.do(ctx, m, "POST", "reload", nil, defaultRESTTimeout)
					if err != nil {
						return err
					}
					switch r.Status {
					case 200:
						a.printf("No changes to apply on member %s\n", m.Name)
					case 202:
						a.printf("Reload request received for member %s and will be processed within %s seconds\n", m.Name, pyStr(c.Config["loop_wait"]))
					default:
						a.printf("Failed: reload for member %s, status code=%d, (%s)\n", m.Name, r.Status, r.Body)
					}
				}
				return nil
			})
		},
	}
	addMemberFlags(cmd, &o, "Reload only members with this role")
	addGroupFlag(cmd)
	return cmd
}

var pgVersionRE = regexp.MustCompile(`^\d+(\.\d+){0,2}$`)

func (a *app) restartCommand() *cobra.Command {
	var o memberAction
	var pAny, pending, switchover bool
	var scheduled, version, timeout string
	cmd := &cobra.Command{
		Use:   "restart CLUSTER_NAME [MEMBER_NAMES...]",
		Short: "Restart cluster member",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			schedSet, verSet := cmd.Flags().Changed("scheduled"), cmd.Flags().Changed("pg-version")
			return a.memberCommandPrelude(cmd, args, o, func(ctx context.Context, _ dcs.Store, c *cluster.Cluster, name string, names []string, roleSet bool) error {
				ms, err := a.selectMembers(c, name, names, o.role, roleSet, o.force, "restart", false)
				if err != nil {
					return err
				}
				if !schedSet && !o.force {
					example := a.now().Add(time.Hour).Format("2006-01-02T15:04")
					if scheduled, err = a.ask("When should the restart take place (e.g. "+example+") ", "now", true); err != nil {
						return err
					}
				}
				at, err := parseScheduled(scheduled, a.now().Location())
				if err != nil {
					return err
				}
				sched := ""
				if !at.IsZero() {
					sched = isoformat(at)
				}
				if err := a.confirmMembers(ms, o.force, "restart", sched); err != nil {
					return err
				}
				if pAny {
					rand.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
					ms = ms[:1]
				}
				if !verSet && !o.force {
					if version, err = a.ask("Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ", "", true); err != nil {
						return err
					}
				}
				body := map[string]any{}
				if pending {
					body["restart_pending"] = true
				}
				if version != "" {
					if !pgVersionRE.MatchString(version) {
						return fmt.Errorf("%s is not a valid PostgreSQL version", version)
					}
					body["postgres_version"] = version
				}
				if sched != "" {
					if isPaused(c) {
						return errors.New("Can't schedule restart in the paused state")
					}
					body["schedule"] = sched
				}
				if timeout != "" {
					body["timeout"] = timeout
				}
				switch {
				case switchover && sched != "":
					return errors.New("--switchover cannot be combined with --scheduled")
				case sched == "" && (len(ms) > 1 || switchover):
					return a.rollingRestart(ctx, c, ms, body, switchover)
				}
				return a.restartMembers(ctx, ms, body, o.force)
			})
		},
	}
	addMemberFlags(cmd, &o, "Restart only members with this role")
	f := cmd.Flags()
	f.BoolVar(&pAny, "any", false, "Restart a single member only")
	f.StringVar(&scheduled, "scheduled", "", "Timestamp of a scheduled restart in unambiguous format (e.g. ISO 8601)")
	f.StringVar(&version, "pg-version", "", "Restart if the PostgreSQL version is less than provided (e.g. 9.5.2)")
	f.BoolVar(&pending, "pending", false, "Restart if pending")
	f.StringVar(&timeout, "timeout", "", "Return error and fail over if necessary when restarting takes longer than this.")
	f.BoolVar(&switchover, "switchover", false, "Warden: switch the primary over to a healthy replica instead of restarting it in place")
	addGroupFlag(cmd)
	return cmd
}

// restartTimeout: an immediate restart answers once PostgreSQL is up again.
const restartTimeout = 10 * time.Minute

func (a *app) restartMembers(ctx context.Context, ms []cluster.Member, body map[string]any, force bool) error {
	for _, m := range ms {
		if _, ok := body["schedule"]; ok && force {
			// patronictl flushes an existing scheduled restart first; the member key
			// does not tell Warden's CLI whether one exists, so it always asks.
			if r, err := a.rest.do(ctx, m, "DELETE", "restart", nil, defaultRESTTimeout); err == nil && r.Status >= 400 && r.Status != 404 {
				a.printf("Failed: flush scheduled restart for member %s, status code=%d, (%s)\n", m.Name, r.Status, r.Body)
			}
		}
		if _, err := a.restartOne(ctx, m, body); err != nil {
			return err
		}
	}
	return nil
}

// checkResponse prints patronictl's Success/Failed line.
func (a *app) checkResponse(r restResponse, member, action string, silent bool) bool {
	if r.Status >= 400 {
		a.printf("Failed: %s for member %s, status code=%d, (%s)\n", action, member, r.Status, r.Body)
		return false
	}
	if !silent {
		a.printf("Success: %s for member %s\n", action, member)
	}
	return true
}

func (a *app) reinitCommand() *cobra.Command {
	var force, wait, fromLeader bool
	cmd := &cobra.Command{
		Use:   "reinit CLUSTER_NAME [MEMBER_NAMES...]",
		Short: "Reinitialize cluster member",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withCluster(ctx, args[0], func(_ dcs.Store, c *cluster.Cluster) error {
				ms, err := a.selectMembers(c, args[0], args[1:], "replica", true, force, "reinitialize", true)
				if err != nil {
					return err
				}
				var waitOn []cluster.Member
				for _, m := range ms {
					started, err := a.reinitOne(ctx, m, force, fromLeader)
					if err != nil {
						return err
					}
					if started && wait {
						waitOn = append(waitOn, m)
					}
				}
				return a.waitReinit(ctx, waitOn)
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "Do not ask for confirmation at any point")
	cmd.Flags().BoolVar(&wait, "wait", false, "Wait until reinitialization completes")
	cmd.Flags().BoolVar(&fromLeader, "from-leader", false, "Get basebackup from leader (Patroni 4.1 members; a Warden member always clones from the leader, with its create_replica_methods)")
	addGroupFlag(cmd)
	return cmd
}

// reinitOne posts /reinitialize; from_leader (Patroni 4.1) is sent only when asked for,
// so the request is patronictl 3.0.2's otherwise.
func (a *app) reinitOne(ctx context.Context, m cluster.Member, force, fromLeader bool) (bool, error) {
	body := map[string]any{"force": force}
	if fromLeader {
		body["from_leader"] = true
	}
	for {
		r, err := a.rest.do(ctx, m, "POST", "reinitialize", body, defaultRESTTimeout)
		if err != nil {
			return false, err
		}
		started := a.checkResponse(r, m.Name, "reinitialize", false)
		if !started && strings.HasSuffix(r.Body, " already in progress") && !force {
			ok, err := a.confirm("Do you want to cancel it and reinitialize anyway?")
			if err != nil {
				return false, err
			}
			if ok {
				body["force"] = true
				continue
			}
		}
		return started, nil
	}
}

func (a *app) waitReinit(ctx context.Context, waitOn []cluster.Member) error {
	var shown []string
	for len(waitOn) > 0 {
		names := make([]string, len(waitOn))
		for i, m := range waitOn {
			names[i] = m.Name
		}
		if strings.Join(names, ",") != strings.Join(shown, ",") {
			a.printf("Waiting for reinitialize to complete on: %s\n", strings.Join(names, ", "))
			shown = names
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		var still []cluster.Member
		for _, m := range waitOn {
			r, err := a.rest.do(ctx, m, "GET", "patroni", nil, defaultRESTTimeout)
			var st struct {
				State string `json:"state"`
			}
			if err == nil {
				err = json.Unmarshal([]byte(r.Body), &st)
			}
			if err != nil || st.State == "creating replica" {
				// patronictl would stop on an unreachable member; the member restarts
				// its API while it re-creates, so keep waiting.
				still = append(still, m)
				continue
			}
			a.printf("Reinitialize is completed on: %s\n", m.Name)
		}
		waitOn = still
	}
	return nil
}

func (a *app) flushCommand() *cobra.Command {
	var o memberAction
	cmd := &cobra.Command{
		Use:   "flush CLUSTER_NAME [MEMBER_NAMES...] {restart|switchover}",
		Short: "Discard scheduled events",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := args[len(args)-1]
			if target != "restart" && target != "switchover" {
				return fmt.Errorf("Invalid value for 'TARGET': '%s' is not one of 'restart', 'switchover'.", target)
			}
			return a.memberCommandPrelude(cmd, args[:len(args)-1], o, func(ctx context.Context, store dcs.Store, c *cluster.Cluster, name string, names []string, roleSet bool) error {
				if target == "restart" {
					ms, err := a.selectMembers(c, name, names, o.role, roleSet, o.force, "flush", true)
					if err != nil {
						return err
					}
					for _, m := range ms {
						r, err := a.rest.do(ctx, m, "DELETE", "restart", nil, defaultRESTTimeout)
						if err != nil {
							return err
						}
						if r.Status == 404 {
							a.printf("No scheduled restart for member %s\n", m.Name)
							continue
						}
						a.checkResponse(r, m.Name, "flush scheduled restart", false)
					}
					return nil
				}
				return a.flushSwitchover(ctx, store, c, name)
			})
		},
	}
	addMemberFlags(cmd, &o, "Flush only members with this role")
	addGroupFlag(cmd)
	return cmd
}

func leaderFirst(c *cluster.Cluster) []cluster.Member {
	var out []cluster.Member
	l, ok := c.LeaderMember()
	if ok && l.APIURL != "" {
		out = append(out, l)
	}
	for _, m := range c.Members {
		if m.APIURL != "" && (!ok || m.Name != l.Name) {
			out = append(out, m)
		}
	}
	return out
}

func (a *app) flushSwitchover(ctx context.Context, store dcs.Store, c *cluster.Cluster, name string) error {
	if c.Failover == nil || c.Failover.ScheduledAt == "" {
		a.println("No pending scheduled switchover")
		return nil
	}
	for _, m := range leaderFirst(c) {
		r, err := a.rest.do(ctx, m, "DELETE", "switchover", nil, defaultRESTTimeout)
		if err != nil {
			a.warn(err.Error())
			a.warn(fmt.Sprintf("Member %s is not accessible", m.Name))
			continue
		}
		if r.Status == 200 || r.Status == 404 {
			prefix := "Success"
			if r.Status == 404 {
				prefix = "Failed"
			}
			a.printf("%s: %s\n", prefix, r.Body)
			return nil
		}
		a.printf("Failed: member=%s, status_code=%d, (%s)\n", m.Name, r.Status, r.Body)
	}
	a.printf("%s Could not find any accessible member of cluster %s\n", a.timestamp(6), name)
	_, err := store.SetFailover(ctx, cluster.EncodeFailover(&cluster.Failover{}), c.Failover.Revision)
	return err
}

func (a *app) removeCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "remove CLUSTER_NAME",
		Short: "Remove cluster from DCS",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validFormat(format); err != nil {
				return err
			}
			name := args[0]
			return a.withCluster(cmd.Context(), name, func(store dcs.Store, c *cluster.Cluster) error {
				fmt.Fprint(a.out, renderMembers(c, name, false, format))
				answer, err := a.ask("Please confirm the cluster name to remove", "", false)
				if err != nil {
					return err
				}
				if answer != name {
					return errors.New("Cluster names specified do not match")
				}
				const aware = "Yes I am aware"
				answer, err = a.ask(fmt.Sprintf("You are about to remove all information in DCS for %s, please type: %q", name, aware), "", false)
				if err != nil {
					return err
				}
				if answer != aware {
					return fmt.Errorf("You did not exactly type %q", aware)
				}
				if c.Locked() {
					answer, err = a.ask("This cluster currently is healthy. Please specify the leader name to continue", "", false)
					if err != nil {
						return err
					}
					if answer != c.LeaderName() {
						return errors.New("You did not specify the current leader of the cluster")
					}
				}
				return store.DeleteCluster(cmd.Context())
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "pretty", "Output format (pretty, tsv, json, yaml)")
	addGroupFlag(cmd)
	return cmd
}
