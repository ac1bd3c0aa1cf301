package ctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
)

// demoteClusterCommand is Patroni 4.1's demote-cluster: PATCH /config with a
// standby_cluster section, then wait until the leader is a running standby leader.
func (a *app) demoteClusterCommand() *cobra.Command {
	var force bool
	var host, restoreCommand, slot string
	var port int
	cmd := &cobra.Command{
		Use:   "demote-cluster [CLUSTER_NAME]",
		Short: "Demote cluster to a standby cluster",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if host == "" && port == 0 && restoreCommand == "" {
				return errors.New("At least --host, --port or --restore-command should be specified")
			}
			standby := map[string]any{}
			for k, v := range map[string]string{"host": host, "primary_slot_name": slot, "restore_command": restoreCommand} {
				if v != "" {
					standby[k] = v
				}
			}
			if port != 0 {
				standby["port"] = port
			}
			return a.changeClusterRole(cmd.Context(), args, force, standby)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "Do not ask for confirmation at any point")
	f.StringVar(&host, "host", "", "Address of the remote node")
	f.IntVar(&port, "port", 0, "Port of the remote node")
	f.StringVar(&restoreCommand, "restore-command", "", "Command to restore WAL records from the remote primary")
	f.StringVar(&slot, "primary-slot-name", "", "Name of the slot on the remote node to use for replication")
	return cmd
}

// promoteClusterCommand is Patroni 4.1's promote-cluster: remove standby_cluster and wait
// until the leader is a running primary.
func (a *app) promoteClusterCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "promote-cluster [CLUSTER_NAME]",
		Short: "Promote cluster, make it run standalone",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.changeClusterRole(cmd.Context(), args, force, nil)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "Do not ask for confirmation at any point")
	return cmd
}

// changeClusterRole is patronictl's change_cluster_role: standby nil promotes.
func (a *app) changeClusterRole(ctx context.Context, args []string, force bool, standby map[string]any) error {
	name, err := a.clusterName(args)
	if err != nil {
		return err
	}
	demote := standby != nil
	action := "promot"
	if demote {
		action = "demot"
	}
	return a.withCluster(ctx, name, func(store dcs.Store, c *cluster.Cluster) error {
		leader, ok := c.LeaderMember()
		if !ok {
			return fmt.Errorf("Cluster has no leader, %sion is not possible", action)
		}
		if inTargetRole(leader, demote) {
			return errors.New("Cluster is already in the required state")
		}
		a.println("Current cluster topology")
		fmt.Fprint(a.out, renderMembers(c, name, false, "pretty"))
		if !force {
			yes, err := a.confirm(fmt.Sprintf("Are you sure you want to %se %s cluster?", action, name))
			if err != nil {
				return err
			}
			if !yes {
				return fmt.Errorf("Aborted cluster %sion", action)
			}
		}
		var body any = map[string]any{"standby_cluster": nil}
		if demote {
			body = map[string]any{"standby_cluster": standby}
		}
		r, err := a.rest.do(ctx, leader, "PATCH", "config", body, defaultRESTTimeout)
		if err != nil {
			return fmt.Errorf("Failed to %se %s cluster: %v", action, name, err)
		}
		if r.Status != 200 {
			return fmt.Errorf("Failed to %se %s cluster: /config PATCH status code=%d, (%s)", action, name, r.Status, r.Body)
		}
		c, err = a.waitClusterRole(ctx, store, leader.Name, action, demote)
		if err != nil {
			return err
		}
		fmt.Fprint(a.out, renderMembers(c, name, false, "pretty"))
		return nil
	})
}

// inTargetRole: the leader's member key already shows the role the change aims at
// (a Patroni 3 leader writes master for a primary).
func inTargetRole(leader cluster.Member, demote bool) bool {
	if demote {
		return leader.Role == cluster.RoleStandbyLeader
	}
	return leader.Role.IsPrimary()
}

// waitClusterRole polls until the cluster has a running leader in the target role (and,
// after a demotion, the former leader runs again), printing the state seen meanwhile, as
// patronictl does; it waits until interrupted.
func (a *app) waitClusterRole(ctx context.Context, store dcs.Store, formerLeader, action string, demote bool) (*cluster.Cluster, error) {
	for {
		c, err := store.Load(ctx)
		if err != nil {
			return nil, err
		}
		leader, locked := c.LeaderMember()
		former, _ := c.Member(formerLeader)
		now := a.now().Format(time.DateTime)
		if locked && inTargetRole(leader, demote) && leader.State == "running" && (!demote || former.State == "running") {
			a.printf("%s cluster is successfully %sed\n", now, action)
			return c, nil
		}
		line := fmt.Sprintf("%s cluster is unlocked: %s, leader role: %s, leader state: %s", now,
			pyStr(!locked), pyNone(string(leader.Role)), pyNone(leader.State))
		if demote && locked && leader.Name != formerLeader && former.State != "" {
			line += fmt.Sprintf(", previous leader state: '%s'", former.State)
		}
		a.println(line)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(a.poll):
		}
	}
}

// pyNone prints an absent value as Python prints None.
func pyNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}
