package ha

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// syncRule is a synchronous_standby_names setting as far as safety needs it: a commit is
// acknowledged once K of Names have flushed it ("N (a,b)" and "ANY N (a,b)" alike; a
// single name is K=1). Star ("*") acknowledges on any one standby; "" on none.
type syncRule struct {
	K     int
	Names []string
	Star  bool
}

// holdersIn is how many members of set are guaranteed to hold a commit acknowledged
// under the rule: K acknowledgers, of which those outside set do not count.
func (r syncRule) holdersIn(set []string) int {
	if r.Star {
		return 0
	}
	outside := 0
	for _, n := range r.Names {
		if !slices.Contains(set, n) {
			outside++
		}
	}
	return max(0, r.K-outside)
}

// parseSyncRule reads the forms Warden and Patroni write. ok is false for anything else
// (a hand-written FIRST list with comments, say); the caller then assumes no holder.
func parseSyncRule(v string) (r syncRule, ok bool) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return syncRule{}, true
	case v == "*":
		return syncRule{K: 1, Star: true}, true
	}
	head, list, hasList := strings.Cut(v, "(")
	if !hasList {
		names, ok := splitNames(v)
		if !ok || len(names) != 1 {
			return syncRule{}, false
		}
		return syncRule{K: 1, Names: names}, true
	}
	if !strings.HasSuffix(list, ")") {
		return syncRule{}, false
	}
	fields := strings.Fields(head)
	if len(fields) == 2 && (strings.EqualFold(fields[0], "any") || strings.EqualFold(fields[0], "first")) {
		fields = fields[1:]
	}
	if len(fields) != 1 {
		return syncRule{}, false
	}
	k, err := strconv.Atoi(fields[0])
	names, ok := splitNames(strings.TrimSuffix(list, ")"))
	if err != nil || k < 0 || !ok || slices.Contains(names, "*") {
		return syncRule{}, false
	}
	return syncRule{K: k, Names: names}, true
}

// splitNames splits a comma-separated list of standby names, unquoting "a""b".
func splitNames(s string) ([]string, bool) {
	var names []string
	for rest := strings.TrimSpace(s); rest != ""; {
		var name string
		if rest[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				if rest[i] == '"' {
					if i+1 < len(rest) && rest[i+1] == '"' {
						b.WriteByte('"')
						i++
						continue
					}
					break
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) {
				return nil, false
			}
			name, rest = b.String(), strings.TrimSpace(rest[i+1:])
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			name, rest = strings.TrimSpace(rest[:end]), rest[end:]
			if name == "" || strings.ContainsAny(name, " \t\"()") {
				return nil, false
			}
		}
		names = append(names, name)
		if rest != "" {
			if rest[0] != ',' {
				return nil, false
			}
			rest = strings.TrimSpace(rest[1:])
			if rest == "" {
				return nil, false
			}
		}
	}
	return names, true
}

// quorumRender renders "ANY k (a,b)"; "*" (strict) or "" with nobody to wait for.
func quorumRender(names []string, k int, strict bool) string {
	if len(names) == 0 || k == 0 {
		return syncStandbyNames(nil, strict)
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quoteStandby(n)
	}
	return "ANY " + strconv.Itoa(k) + " (" + strings.Join(quoted, ",") + ")"
}

// quorumState is what the leader has published in /sync: the voters and the quorum.
type quorumState struct {
	Voters []string
	Quorum int
}

// publishedQuorum reads /sync as this leader's promise. A /sync of another leader
// promises nothing to this one; one written in mode on (no quorum) means every voter
// holds every acknowledged commit, i.e. quorum 0.
func publishedQuorum(in Input) quorumState {
	c := in.Cluster
	if c.Sync == nil || c.Sync.Leader != in.Settings.Name {
		return quorumState{Voters: []string{}}
	}
	st := quorumState{Voters: append([]string{}, c.Sync.SyncStandby...)}
	if c.Sync.Quorum != nil {
		st.Quorum = *c.Sync.Quorum
	}
	sort.Strings(st.Voters)
	return st
}

// minQuorum is the smallest quorum that may be published with voters next while rule
// is the parameter in force and cur is published: every acknowledged commit must be on
// at least len(next)-quorum voters. Commits acknowledged from now on are on
// rule.holdersIn(next) of them; earlier commits are on the voters cur guaranteed that
// remain, or on every voter that has flushed past SyncGUCSetAt (0: unknown).
func minQuorum(in Input, rule syncRule, cur quorumState, next []string) int {
	past := len(cur.Voters) - cur.Quorum
	for _, v := range cur.Voters {
		if !slices.Contains(next, v) {
			past--
		}
	}
	caught := 0
	for _, r := range in.PG.Replication {
		if in.SyncGUCSetAt > 0 && slices.Contains(next, r.Name) && r.FlushLSN >= in.SyncGUCSetAt {
			caught++
		}
	}
	holders := min(rule.holdersIn(next), max(past, caught))
	return max(0, len(next)-holders)
}

// quorumPlan is syncPlan for synchronous_mode: quorum; see the package doc for the
// rules. It makes at most one change per cycle, each safe with both the previous and
// the new value of the other half (parameter or /sync) in force, so walsenders that
// reload the parameter a little later than the observing session do not matter.
func quorumPlan(in Input) Plan {
	s := in.Settings
	cur := publishedQuorum(in)
	picked := pickSyncStandbys(in)
	k := min(max(1, s.SynchronousNodeCount), len(picked))
	want := quorumRender(picked, k, s.SynchronousModeStrict)
	rule, ok := parseSyncRule(in.PG.SyncStandbyNames)
	if !ok {
		rule = syncRule{}
	}
	write := func(voters []string, q int) Plan {
		q = min(q, len(voters))
		return Plan{{Kind: KindWriteSync, Standbys: voters, Quorum: &q}}
	}
	ours := in.Cluster.Sync != nil && in.Cluster.Sync.Leader == s.Name && in.Cluster.Sync.Quorum != nil
	// 1. Voters no longer picked leave /sync before the parameter.
	if kept := intersect(cur.Voters, picked); len(kept) < len(cur.Voters) {
		return write(kept, minQuorum(in, rule, cur, kept))
	}
	// 2. New voters join /sync before the parameter, the quorum raised to cover them.
	if len(picked) > len(cur.Voters) {
		return write(picked, max(cur.Quorum, minQuorum(in, rule, cur, picked)))
	}
	if !ours {
		return write(cur.Voters, minQuorum(in, rule, cur, cur.Voters))
	}
	// 3. The parameter, once the published quorum covers it; otherwise raise the quorum.
	if in.PG.SyncStandbyNames != want {
		next, _ := parseSyncRule(want)
		if need := len(cur.Voters) - next.holdersIn(cur.Voters); need > cur.Quorum {
			return write(cur.Voters, need)
		}
		return Plan{{Kind: KindSetSyncStandbys, Value: want}}
	}
	// 4. Lower the quorum as far as the parameter and the voters' positions allow.
	if q := minQuorum(in, rule, cur, cur.Voters); q < cur.Quorum {
		return write(cur.Voters, q)
	}
	return nil
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// quorumRace applies the quorum rule in a leader race: the voters and the former leader
// are the only nodes that may hold an acknowledged commit the others lack. A voter may
// promote when it is at least as far as the former leader, or as far as quorum other
// voters: then the voters it knows (itself included) number quorum+1, more than the
// len(voters)-(len(voters)-quorum) that may lack a commit, so one of them has it.
func quorumRace(in Input) (bool, string) {
	c, s := in.Cluster, in.Settings
	sync := c.Sync
	if s.Name == sync.Leader {
		return true, ""
	}
	if !slices.Contains(sync.SyncStandby, s.Name) {
		return false, "synchronous mode is quorum and I am not a voter in /sync"
	}
	votes := 0
	for _, p := range in.Peers {
		// WAL 0: its PostgreSQL is not running, so its position is unknown.
		if !p.Reachable || !p.InRecovery || p.WAL == 0 || p.WAL > in.PG.WAL || p.Name == s.Name {
			continue
		}
		if p.Name == sync.Leader {
			return true, ""
		}
		if slices.Contains(sync.SyncStandby, p.Name) {
			votes++
		}
	}
	if votes < *sync.Quorum {
		return false, fmt.Sprintf("only %d of the %d votes the quorum needs (voters not ahead of me)", votes, *sync.Quorum)
	}
	return true, ""
}

// quorumActive: /sync holds a quorum promise of its leader.
func quorumActive(in Input) bool {
	c := in.Cluster
	return in.Settings.SynchronousMode && c != nil && c.Sync != nil && c.Sync.Leader != "" && c.Sync.Quorum != nil
}

// Acknowledged is the highest WAL position a primary running with
// synchronous_standby_names = value has acknowledged, given the flush positions of the
// standbys streaming from it (by application_name): the K-th highest among the named
// ones. sync is false when the value acknowledges without any standby ("" or a form
// Warden does not write); the simulator uses it to model acknowledgements.
func Acknowledged(value string, flush map[string]uint64) (lsn uint64, sync bool) {
	r, ok := parseSyncRule(value)
	if !ok || (r.K == 0 && !r.Star) {
		return 0, false
	}
	var got []uint64
	for name, f := range flush {
		if r.Star || slices.Contains(r.Names, name) {
			got = append(got, f)
		}
	}
	if len(got) < r.K {
		return 0, true
	}
	slices.Sort(got)
	return got[len(got)-r.K], true
}
