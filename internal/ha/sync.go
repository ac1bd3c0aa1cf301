package ha

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
)

// syncPlan keeps synchronous replication in line with the configuration, on the leader.
// The safety property is the order of the two writes: a standby is added to
// synchronous_standby_names first and to /sync only once PostgreSQL reports it
// synchronous and it has flushed past the moment the parameter changed; a standby is
// removed from /sync first and from the parameter afterwards. So every member named in
// /sync holds every commit acknowledged since it was named, and only those may be
// promoted.
func syncPlan(in Input) Plan {
	s, c := in.Settings, in.Cluster
	ours := c.Sync != nil && c.Sync.Leader == s.Name
	if !s.SynchronousMode {
		if c.Sync != nil && c.Sync.Leader != "" {
			return Plan{{Kind: KindDeleteSync}, {Kind: KindSetSyncStandbys, Release: true}}
		}
		if in.PG.SyncNamesHeld {
			return Plan{{Kind: KindSetSyncStandbys, Release: true}}
		}
		return nil
	}
	if s.SynchronousQuorum {
		return quorumPlan(in)
	}
	picked := pickSyncStandbys(in)
	want := syncStandbyNames(picked, s.SynchronousModeStrict)
	if ours && c.Sync.Quorum != nil && *c.Sync.Quorum > 0 {
		// Left by quorum mode: its voters do not each hold every commit. Withdraw the
		// promise before the parameter changes; confirmation starts over.
		return Plan{{Kind: KindWriteSync, Standbys: []string{}}}
	}
	current := []string{}
	if ours {
		current = c.Sync.SyncStandby
	}
	confirmed := []string{}
	for _, r := range in.PG.Replication {
		if slices.Contains(picked, r.Name) && (r.SyncState == "sync" || r.SyncState == "quorum") &&
			(slices.Contains(current, r.Name) || r.FlushLSN >= in.SyncGUCSetAt) {
			confirmed = append(confirmed, r.Name)
		}
	}
	sort.Strings(confirmed)
	var p Plan
	changed := !sameSet(current, confirmed) || !ours
	shrinking := changed && subset(confirmed, current)
	if shrinking {
		p = append(p, Action{Kind: KindWriteSync, Standbys: confirmed})
	}
	if in.PG.SyncStandbyNames != want {
		p = append(p, Action{Kind: KindSetSyncStandbys, Value: want})
	}
	if changed && !shrinking {
		p = append(p, Action{Kind: KindWriteSync, Standbys: confirmed})
	}
	return p
}

// pickSyncStandbys chooses synchronous_node_count (in quorum mode: all) streaming members
// without the nosync or nostream tag (nosync also when sync_priority <= 0), preferring a
// higher sync_priority tag (Patroni 4.1), then those already synchronous, then the most
// advanced. With maximum_lag_on_syncnode above 0, a member further behind the most
// advanced one (the primary when there is only one) is left out, as Patroni does.
func pickSyncStandbys(in Input) []string {
	priority := map[string]int{}
	for _, m := range in.Cluster.Members {
		if m.Name != in.Settings.Name && !cluster.TagsNoSync(m.Tags) && !cluster.Truthy(m.Tags["nostream"]) {
			priority[m.Name] = cluster.TagsSyncPriority(m.Tags)
		}
	}
	rows := []Replica{}
	for _, r := range in.PG.Replication {
		if _, eligible := priority[r.Name]; r.State == "streaming" && eligible {
			rows = append(rows, r)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if pi, pj := priority[rows[i].Name], priority[rows[j].Name]; pi != pj {
			return pi > pj
		}
		si, sj := rows[i].SyncState == "sync", rows[j].SyncState == "sync"
		if si != sj {
			return si
		}
		if rows[i].FlushLSN != rows[j].FlushLSN {
			return rows[i].FlushLSN > rows[j].FlushLSN
		}
		return rows[i].Name < rows[j].Name
	})
	n := max(1, in.Settings.SynchronousNodeCount)
	if in.Settings.SynchronousQuorum {
		n = len(rows)
	}
	top := in.PG.WAL
	if len(rows) > 1 {
		top = 0
		for _, r := range rows {
			top = max(top, r.FlushLSN)
		}
	}
	names := []string{}
	for _, r := range rows {
		if len(names) == n {
			break
		}
		if lag := in.Settings.MaximumLagOnSyncnode; lag > 0 && r.FlushLSN < top && top-r.FlushLSN > uint64(lag) {
			continue
		}
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names
}

var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9$]*$`)

// syncStandbyNames renders the parameter as Patroni does: "a", or "N (a,b)"; "*" in
// strict mode with nobody to wait for (writes block), "" otherwise.
func syncStandbyNames(names []string, strict bool) string {
	if len(names) == 0 {
		if strict {
			return "*"
		}
		return ""
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quoteStandby(n)
	}
	if len(names) == 1 {
		return quoted[0]
	}
	return strconv.Itoa(len(names)) + " (" + strings.Join(quoted, ",") + ")"
}

func quoteStandby(n string) string {
	if plainName.MatchString(n) && !strings.EqualFold(n, "first") && !strings.EqualFold(n, "any") {
		return n
	}
	return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
}

func sameSet(a, b []string) bool { return subset(a, b) && subset(b, a) }

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// syncGuard restricts a leader race in synchronous mode: only the /sync leader and the
// standbys it names hold every acknowledged commit.
func syncGuard(in Input) (allowed bool, names []string) {
	s, c := in.Settings, in.Cluster
	if !s.SynchronousMode || c.Sync == nil || c.Sync.Leader == "" {
		return true, nil
	}
	names = append([]string{c.Sync.Leader}, c.Sync.SyncStandby...)
	return slices.Contains(names, s.Name), names
}

// promotionSyncSteps are written before PostgreSQL is promoted in synchronous mode: the
// new leader claims /sync with no standby yet, and strict mode blocks commits until one
// is synchronous.
func promotionSyncSteps(in Input) Plan {
	if !in.Settings.SynchronousMode {
		return nil
	}
	var quorum *int
	if in.Settings.SynchronousQuorum {
		quorum = new(int)
	}
	return Plan{
		{Kind: KindWriteSync, Standbys: []string{}, Quorum: quorum},
		{Kind: KindSetSyncStandbys, Value: syncStandbyNames(nil, in.Settings.SynchronousModeStrict)},
	}
}
