package ctl

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
)

// memberView is one member as patronictl's cluster_as_json describes it.
type memberView struct {
	Name, Role, State, Host string
	Port                    int
	HasHost                 bool
	Timeline                int
	Lag                     any // nil for the leader, int bytes, or "unknown"
	PendingRestart          bool
	ScheduledRestart        string
	Tags                    map[string]any
}

func isStandbyCluster(c *cluster.Cluster) bool {
	sc, ok := c.Config["standby_cluster"].(map[string]any)
	if !ok {
		return false
	}
	for _, k := range []string{"host", "port", "restore_command"} {
		if v, ok := sc[k]; ok && v != nil && v != "" {
			return true
		}
	}
	return false
}

func isPaused(c *cluster.Cluster) bool { return c != nil && cluster.Truthy(c.Config["pause"]) }

func memberViews(c *cluster.Cluster) []memberView {
	leader := c.LeaderName()
	sync := map[string]bool{}
	if c.Sync != nil {
		for _, n := range c.Sync.SyncStandby {
			sync[n] = true
		}
	}
	var out []memberView
	for _, m := range c.Members {
		v := memberView{Name: m.Name, State: m.State, Timeline: m.Timeline, PendingRestart: m.PendingRestart, Tags: m.Tags}
		switch {
		case m.Name == leader && isStandbyCluster(c):
			v.Role = "standby_leader"
		case m.Name == leader:
			v.Role = "leader"
		case sync[m.Name]:
			v.Role = c.SyncRole()
		default:
			v.Role = "replica"
		}
		if h, p := m.HostPort(); h != "" {
			v.Host, v.Port, v.HasHost = h, p, true
		}
		if m.Name != leader {
			switch {
			case m.XLogLocation == nil:
				v.Lag = "unknown"
			case c.Status.Optime >= *m.XLogLocation:
				v.Lag = int(c.Status.Optime - *m.XLogLocation)
			default:
				v.Lag = 0
			}
		}
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// topologyOrder puts the leader first and cascading replicas under their replicatefrom
// parent, indented two spaces per level, as patronictl topology does.
func topologyOrder(ms []memberView) []memberView {
	leader := ""
	replicas := map[string]bool{}
	for _, m := range ms {
		if strings.HasSuffix(m.Role, "leader") {
			if leader == "" {
				leader = m.Name
			}
		} else {
			replicas[m.Name] = true
		}
	}
	children := map[string][]memberView{}
	var leaderView *memberView
	for i, m := range ms {
		if strings.HasSuffix(m.Role, "leader") {
			if m.Name == leader {
				leaderView = &ms[i]
			}
			continue
		}
		parent, _ := m.Tags["replicatefrom"].(string)
		if parent == "" || parent == m.Name || !replicas[parent] {
			parent = leader
		}
		children[parent] = append(children[parent], m)
	}
	var out []memberView
	var walk func(level int, m memberView, name string)
	walk = func(level int, m memberView, name string) {
		kids := children[name]
		if level > 0 {
			m.Name = strings.Repeat(" ", (level-1)*2) + "+ " + m.Name
		}
		if m.Name != "" {
			out = append(out, m)
		}
		for _, k := range kids {
			walk(level+1, k, k.Name)
		}
	}
	root := memberView{}
	if leaderView != nil {
		root = *leaderView
	}
	walk(0, root, leader)
	return out
}

// clusterTitle is drawn into the top border. patronictl 3.0.2 shows only the name;
// 3.1.1+ adds the initialize key, which Warden follows.
func clusterTitle(c *cluster.Cluster, name string) string {
	init := "uninitialized"
	if c.Initialize != nil {
		init = *c.Initialize
		if init == "" {
			init = "initializing"
		}
	}
	return fmt.Sprintf(" Cluster: %s (%s) ", name, init)
}

// renderMembers is patronictl's output_members for one cluster.
func renderMembers(c *cluster.Cluster, name string, extended bool, format string) string {
	views := memberViews(c)
	columns := []string{"Cluster", "Member", "Host", "Role", "State", "TL", "Lag in MB"}
	var withHost []memberView
	for _, m := range views {
		if m.HasHost {
			withHost = append(withHost, m)
		}
	}
	has := func(f func(memberView) bool) bool {
		for _, m := range withHost {
			if f(m) {
				return true
			}
		}
		return false
	}
	showPending := extended || has(func(m memberView) bool { return m.PendingRestart })
	showSched := extended || has(func(m memberView) bool { return m.ScheduledRestart != "" })
	showTags := extended || has(func(m memberView) bool { return len(m.Tags) > 0 })
	if showPending {
		columns = append(columns, "Pending restart")
	}
	if showSched {
		columns = append(columns, "Scheduled restart")
	}
	if showTags {
		columns = append(columns, "Tags")
	}
	hosts := map[string]bool{}
	appendPort := false
	for _, m := range withHost {
		appendPort = appendPort || m.Port != 5432
		hosts[m.Host] = true
	}
	appendPort = appendPort || len(hosts) < len(withHost)
	if format == "topology" {
		views = topologyOrder(views)
	}
	var rows [][]any
	for _, m := range views {
		host := m.Host
		if appendPort && host != "" && m.Port != 0 {
			host += ":" + strconv.Itoa(m.Port)
		}
		row := []any{name, m.Name, host, roleTitle(m.Role), m.State, tlCell(m.Timeline), lagCell(m.Lag)}
		if showPending {
			row = append(row, map[bool]string{true: "*", false: ""}[m.PendingRestart])
		}
		if showSched {
			row = append(row, m.ScheduledRestart)
		}
		if showTags {
			if len(m.Tags) > 0 {
				row = append(row, m.Tags)
			} else {
				row = append(row, "")
			}
		}
		rows = append(rows, row)
	}
	out := printOutput(columns, rows, map[string]bool{"Lag in MB": true, "TL": true}, format, clusterTitle(c, name), "\t")
	if format != "pretty" && format != "topology" {
		return out
	}
	if info := serviceInfo(c); len(info) > 0 {
		out += " " + strings.Join(info, "\n ") + "\n"
	}
	return out
}

func serviceInfo(c *cluster.Cluster) []string {
	var info []string
	if isPaused(c) {
		info = append(info, "Maintenance mode: on")
	}
	if f := c.Failover; f != nil && f.ScheduledAt != "" {
		s := "Switchover scheduled at: " + f.ScheduledAt
		if f.Leader != "" {
			s += fmt.Sprintf("\n%24s: %s", "from", f.Leader)
		}
		if f.Candidate != "" {
			s += fmt.Sprintf("\n%24s: %s", "to", f.Candidate)
		}
		info = append(info, s)
	}
	return info
}

func roleTitle(role string) string {
	words := strings.Split(strings.ReplaceAll(role, "_", " "), " ")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
		}
	}
	return strings.Join(words, " ")
}

func tlCell(tl int) any {
	if tl == 0 {
		return ""
	}
	return tl
}

// lagCell is round(lag/1024/1024) with Python's round-half-to-even.
func lagCell(lag any) any {
	switch t := lag.(type) {
	case int:
		return int(math.RoundToEven(float64(t) / 1024 / 1024))
	case string:
		return t
	}
	return ""
}

// printOutput is patronictl's print_output: pretty/topology tables (the Cluster column
// moved into the title), tsv, json and yaml.
func printOutput(columns []string, rows [][]any, right map[string]bool, format, title, delimiter string) string {
	switch format {
	case "json", "yaml", "yml":
		var objs [][]pair
		var yamlObjs []any
		for _, r := range rows {
			var ps []pair
			m := map[string]any{}
			for i, c := range columns {
				if title != "" && cellString(r[i], false) == "" {
					continue
				}
				ps = append(ps, pair{c, r[i]})
				m[c] = r[i]
			}
			objs = append(objs, ps)
			yamlObjs = append(yamlObjs, m)
		}
		if format == "json" {
			if objs == nil {
				return "[]\n"
			}
			return pyJSON(objs) + "\n"
		}
		if yamlObjs == nil {
			yamlObjs = []any{}
		}
		return dumpYAML(yamlObjs) + "\n"
	}
	listCluster := title != "" && len(columns) > 0 && columns[0] == "Cluster"
	str := make([][]string, len(rows))
	for i, r := range rows {
		str[i] = make([]string, len(r))
		for j, v := range r {
			str[i][j] = cellString(v, format != "pretty")
		}
	}
	if listCluster && format != "tsv" {
		columns = columns[1:]
		for i := range str {
			str[i] = str[i][1:]
		}
	}
	if format == "tsv" {
		var b strings.Builder
		if len(columns) > 0 {
			b.WriteString(strings.Join(columns, delimiter) + "\n")
		}
		for _, r := range str {
			b.WriteString(strings.Join(r, delimiter) + "\n")
		}
		return b.String()
	}
	return table{title: title, columns: columns, right: right, rows: str}.String()
}

// cellString is Python's str() of a cell; maps are tags, shown as YAML.
func cellString(v any, flow bool) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case string:
		return t
	case int:
		return strconv.Itoa(t)
	case uint64:
		return strconv.FormatUint(t, 10)
	case map[string]any:
		if flow {
			return flowYAML(t)
		}
		return strings.TrimSpace(dumpYAML(t))
	}
	return fmt.Sprint(v)
}
