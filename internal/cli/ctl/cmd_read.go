package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/dcs"
)

func (a *app) listCommand() *cobra.Command {
	var extended, ts, watch bool
	var format string
	var every float64
	cmd := &cobra.Command{
		Use:   "list [CLUSTER_NAME...]",
		Short: "List the Patroni members for a given Patroni",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validFormat(format); err != nil {
				return err
			}
			return a.members(cmd.Context(), args, extended, ts, format, watch, every)
		},
	}
	cmd.Flags().BoolVarP(&extended, "extended", "e", false, "Show some extra information")
	cmd.Flags().BoolVarP(&ts, "timestamp", "t", false, "Print timestamp")
	cmd.Flags().StringVarP(&format, "format", "f", "pretty", "Output format (pretty, tsv, json, yaml)")
	addWatchFlags(cmd, &watch, &every)
	addGroupFlag(cmd)
	return cmd
}

func (a *app) topologyCommand() *cobra.Command {
	var watch bool
	var every float64
	cmd := &cobra.Command{
		Use:   "topology [CLUSTER_NAME...]",
		Short: "Prints ASCII topology for given cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.members(cmd.Context(), args, false, false, "topology", watch, every)
		},
	}
	addWatchFlags(cmd, &watch, &every)
	addGroupFlag(cmd)
	return cmd
}

func addWatchFlags(cmd *cobra.Command, watch *bool, every *float64) {
	cmd.Flags().BoolVarP(watch, "W", "W", false, "Auto update the screen every 2 seconds")
	cmd.Flags().Float64VarP(every, "watch", "w", 0, "Auto update the screen every X seconds")
}

// addGroupFlag accepts patronictl's Citus --group and refuses it: Citus is out of scope.
func addGroupFlag(cmd *cobra.Command) {
	var group int
	cmd.Flags().IntVar(&group, "group", 0, "Citus group (not supported)")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if c.Flags().Changed("group") {
			return fmt.Errorf("Citus clusters are not supported by Warden (--group)")
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// watching yields once, then every interval (-W = 2 s, -w X) until ctx ends; the
// screen is cleared before each round as click.clear does on a terminal.
func (a *app) watching(ctx context.Context, watch bool, every float64, clear bool, f func() error) error {
	if watch && every == 0 {
		every = 2
	}
	for {
		if every > 0 && clear {
			fmt.Fprint(a.out, "\033[2J\033[1;1H")
		}
		if err := f(); err != nil {
			return err
		}
		if every <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(every * float64(time.Second))):
		}
	}
}

func (a *app) members(ctx context.Context, names []string, extended, ts bool, format string, watch bool, every float64) error {
	if len(names) == 0 {
		if a.settings.Scope == "" {
			a.warn("Listing members: No cluster names were provided")
			return nil
		}
		names = []string{a.settings.Scope}
	}
	return a.watching(ctx, watch, every, true, func() error {
		if ts {
			a.println(a.timestamp(0))
		}
		for _, name := range names {
			err := a.withCluster(ctx, name, func(_ dcs.Store, c *cluster.Cluster) error {
				fmt.Fprint(a.out, renderMembers(c, name, extended, format))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (a *app) historyCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "history [CLUSTER_NAME]",
		Short: "Show the history of failovers/switchovers",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validFormat(format); err != nil {
				return err
			}
			name, err := a.clusterName(args)
			if err != nil {
				return err
			}
			return a.withCluster(cmd.Context(), name, func(_ dcs.Store, c *cluster.Cluster) error {
				fmt.Fprint(a.out, renderHistory(c.History, format))
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "pretty", "Output format (pretty, tsv, json, yaml)")
	addGroupFlag(cmd)
	return cmd
}

func renderHistory(h []cluster.HistoryEntry, format string) string {
	columns := []string{"TL", "LSN", "Reason", "Timestamp", "New Leader"}
	rows := make([][]any, 0, len(h))
	for _, e := range h {
		rows = append(rows, []any{e.Timeline, e.LSN, e.Reason, e.Timestamp, e.NewLeader})
	}
	return printOutput(columns, rows, map[string]bool{"TL": true, "LSN": true}, format, "", "\t")
}

func (a *app) showConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show-config [CLUSTER_NAME]",
		Short: "Show cluster configuration",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.clusterName(args)
			if err != nil {
				return err
			}
			return a.withCluster(cmd.Context(), name, func(_ dcs.Store, c *cluster.Cluster) error {
				a.println(dumpConfig(c.Config))
				if d, _ := config.ParseDynamic(c.Config); c.Config != nil && d.TimingNote != "" {
					a.println("# " + d.TimingsNote())
				}
				return nil
			})
		},
	}
	addGroupFlag(cmd)
	return cmd
}

// dumpConfig is format_config_for_editing(cluster.config.data): {} when absent.
func dumpConfig(cfg map[string]any) string {
	if cfg == nil {
		cfg = map[string]any{}
	}
	return dumpYAML(cfg)
}

// roleMembers is patronictl's get_all_members.
func roleMembers(c *cluster.Cluster, role string) []cluster.Member {
	switch role {
	case "leader", "master", "primary", "standby-leader":
		l, ok := c.LeaderMember()
		if !ok {
			return nil
		}
		standby := l.Role == cluster.RoleStandbyLeader
		if role == "leader" || (role == "standby-leader" && !l.Role.IsPrimary()) || ((role == "primary" || role == "master") && !standby) {
			return []cluster.Member{l}
		}
		return nil
	}
	var out []cluster.Member
	leader := c.LeaderName()
	for _, m := range c.Members {
		if role == "any" || ((role == "replica" || role == "standby") && m.Name != leader) {
			out = append(out, m)
		}
	}
	return out
}

func anyMember(c *cluster.Cluster, role, member string) (cluster.Member, bool) {
	for _, m := range roleMembers(c, role) {
		if member == "" || m.Name == member {
			return m, true
		}
	}
	return cluster.Member{}, false
}

var roleChoices = []string{"leader", "primary", "standby-leader", "replica", "standby", "any", "master"}

func checkRole(role string) error {
	for _, r := range roleChoices {
		if r == role {
			return nil
		}
	}
	return fmt.Errorf("Invalid value for '--role' / '-r': '%s' is not one of 'leader', 'primary', 'standby-leader', 'replica', 'standby', 'any', 'master'.", role)
}

// roleAndMember resolves -r/-m for dsn and query.
func roleAndMember(role, member string) (string, error) {
	if member != "" {
		if role != "" {
			return "", fmt.Errorf("--role and --member are mutually exclusive options")
		}
		return "any", nil
	}
	if role == "" {
		return "leader", nil
	}
	return role, checkRole(role)
}

func (a *app) dsnCommand() *cobra.Command {
	var role, member string
	cmd := &cobra.Command{
		Use:   "dsn [CLUSTER_NAME]",
		Short: "Generate a dsn for the provided member, defaults to a dsn of the leader",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := roleAndMember(role, member)
			if err != nil {
				return err
			}
			name, err := a.clusterName(args)
			if err != nil {
				return err
			}
			return a.withCluster(cmd.Context(), name, func(_ dcs.Store, c *cluster.Cluster) error {
				m, ok := anyMember(c, role, member)
				if !ok {
					return fmt.Errorf("Can not find a suitable member")
				}
				host, port := m.HostPort()
				a.printf("host=%s port=%d\n", host, port)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&role, "role", "r", "", "Give a dsn of any member with this role")
	cmd.Flags().StringVarP(&member, "member", "m", "", "Generate a dsn for this member")
	addGroupFlag(cmd)
	return cmd
}

func (a *app) versionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version [CLUSTER_NAME [MEMBER_NAMES...]]",
		Short: "Output version of patronictl command or a running Patroni instance",
		RunE: func(cmd *cobra.Command, args []string) error {
			a.printf("patronictl version %s\n", cluster.Version)
			if len(args) == 0 {
				return nil
			}
			a.println("")
			want := map[string]bool{}
			for _, n := range args[1:] {
				want[n] = true
			}
			return a.withCluster(cmd.Context(), args[0], func(_ dcs.Store, c *cluster.Cluster) error {
				for _, m := range roleMembers(c, "any") {
					if m.APIURL == "" || (len(want) > 0 && !want[m.Name]) {
						continue
					}
					a.println(a.memberVersion(cmd.Context(), m))
				}
				return nil
			})
		},
	}
	addGroupFlag(cmd)
	return cmd
}

func (a *app) memberVersion(ctx context.Context, m cluster.Member) string {
	r, err := a.rest.do(ctx, m, "GET", "patroni", nil, defaultRESTTimeout)
	if err != nil {
		return fmt.Sprintf("%s: failed to get version: %v", m.Name, err)
	}
	var st struct {
		Patroni struct {
			Version string `json:"version"`
		} `json:"patroni"`
		ServerVersion int `json:"server_version"`
	}
	if err := json.Unmarshal([]byte(r.Body), &st); err != nil {
		return fmt.Sprintf("%s: failed to get version: %v", m.Name, err)
	}
	pg := ""
	if st.ServerVersion > 0 {
		pg = " PostgreSQL " + formatPGVersion(st.ServerVersion)
	}
	return fmt.Sprintf("%s: Patroni %s%s", m.Name, st.Patroni.Version, pg)
}

func formatPGVersion(v int) string {
	if v < 100000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d.%d", v/10000, v%100)
}
