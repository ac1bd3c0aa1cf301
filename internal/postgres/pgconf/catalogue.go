package pgconf

import (
	"fmt"
	"sort"
	"strings"

	"github.com/warden-ha/warden/internal/didyoumean"
)

// Param is one server parameter as a PostgreSQL binary describes it.
type Param struct {
	Name    string
	Context string // postmaster, sighup, superuser, user, ...
	Type    string // BOOLEAN, INTEGER, REAL, STRING, ENUM
	Default string
	Min     string
	Max     string
}

// Catalogue is the parameters one major accepts in a configuration file, read from its
// binary (`postgres --describe-config`): nothing in Warden lists them per major. That
// output leaves out the developer options (GUC_NOT_IN_SAMPLE: application_name,
// zero_damaged_pages, ...); postgres.Parameters asks the binary about those one by one.
type Catalogue struct {
	Major  int
	params map[string]Param
	names  []string
}

// ParseDescribeConfig reads `postgres --describe-config`: one tab-separated line per
// parameter, name, context, group, type, default, min, max, descriptions.
func ParseDescribeConfig(out string, major int) (*Catalogue, error) {
	c := &Catalogue{Major: major, params: map[string]Param{}}
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 7 || f[0] == "" {
			return nil, fmt.Errorf("postgres --describe-config line %d: %d fields, want at least 7", i+1, len(f))
		}
		name := strings.ToLower(f[0])
		c.params[name] = Param{Name: name, Context: f[1], Type: f[3], Default: f[4], Min: f[5], Max: f[6]}
		c.names = append(c.names, name)
	}
	if len(c.params) == 0 {
		return nil, fmt.Errorf("postgres --describe-config listed no parameters")
	}
	sort.Strings(c.names)
	return c, nil
}

// Lookup returns the parameter (case-insensitive, like PostgreSQL).
func (c *Catalogue) Lookup(name string) (Param, bool) {
	p, ok := c.params[strings.ToLower(name)]
	return p, ok
}

// Known reports whether a configuration file may set name: a listed parameter, or a
// name with a dot (an extension's, auto_explain.log_min_duration, or a custom one).
func (c *Catalogue) Known(name string) bool {
	if strings.Contains(name, ".") {
		return true
	}
	_, ok := c.Lookup(name)
	return ok
}

// Hint says what to use instead of a name this major does not know: its successor
// when the name was renamed or dropped in another major, else the nearest listed name.
func (c *Catalogue) Hint(name string) string {
	lower := strings.ToLower(name)
	if h, ok := history[lower]; ok {
		switch {
		case h.removed > 0 && c.Major >= h.removed && h.successor != "":
			return fmt.Sprintf("removed in PostgreSQL %d, use %s", h.removed, h.successor)
		case h.removed > 0 && c.Major >= h.removed:
			return fmt.Sprintf("removed in PostgreSQL %d", h.removed)
		case h.added > 0 && c.Major < h.added:
			return fmt.Sprintf("new in PostgreSQL %d, this is %d", h.added, c.Major)
		}
	}
	if n := didyoumean.Nearest(lower, c.names); didyoumean.CloseEnough(lower, n) {
		return "did you mean " + n + "?"
	}
	if n := didyoumean.Nearest(lower, laterNames); didyoumean.CloseEnough(lower, n) && history[n].added > c.Major {
		return fmt.Sprintf("did you mean %s? new in PostgreSQL %d, this is %d", n, history[n].added, c.Major)
	}
	return "not a PostgreSQL " + fmt.Sprint(c.Major) + " parameter"
}

// laterNames are the names in history that appeared in some major, sorted.
var laterNames = func() []string {
	var names []string
	for n, h := range history {
		if h.added > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}()

// change is when a parameter appeared or went away, for hints across majors.
type change struct {
	added, removed int
	successor      string
}

// history holds the parameters whose presence changed between majors 13 and 18 that an
// HA configuration is likely to carry from one major to the next (release notes).
// wal_keep_segments is not here: Merge translates it to wal_keep_size, as Patroni does.
var history = map[string]change{
	"stats_temp_directory":           {removed: 15},
	"promote_trigger_file":           {removed: 16},
	"vacuum_defer_cleanup_age":       {removed: 16, successor: "hot_standby_feedback or replication slots"},
	"force_parallel_mode":            {removed: 16, successor: "debug_parallel_query"},
	"debug_parallel_query":           {added: 16},
	"old_snapshot_threshold":         {removed: 17},
	"db_user_namespace":              {removed: 17},
	"trace_recovery_messages":        {removed: 17},
	"summarize_wal":                  {added: 17},
	"wal_summary_keep_time":          {added: 17},
	"sync_replication_slots":         {added: 17},
	"synchronized_standby_slots":     {added: 17},
	"allow_alter_system":             {added: 17},
	"transaction_timeout":            {added: 17},
	"io_combine_limit":               {added: 17},
	"io_method":                      {added: 18},
	"io_workers":                     {added: 18},
	"idle_replication_slot_timeout":  {added: 18},
	"max_active_replication_origins": {added: 18},
	"track_cost_delay_timing":        {added: 18},
}

// Problem is "" when a configuration file may set name, else why not and what happens.
func (c *Catalogue) Problem(name string) string {
	if c.Known(name) || c.Translated(name) {
		return ""
	}
	return fmt.Sprintf("PostgreSQL %d has no parameter %s (%s); the agent leaves it out of postgresql.conf", c.Major, name, c.Hint(name))
}

// Translated reports whether Warden rewrites name for this major before writing the
// configuration, as Patroni does: wal_keep_segments becomes wal_keep_size from 13 on
// (16MB a segment), and back before 13.
func (c *Catalogue) Translated(name string) bool {
	switch strings.ToLower(name) {
	case "wal_keep_segments":
		return c.Major >= 13
	case "wal_keep_size":
		return c.Major < 13
	}
	return false
}
