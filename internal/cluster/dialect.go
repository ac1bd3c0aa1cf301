package cluster

import (
	"strconv"
	"strings"
)

// Dialect is the Patroni major version whose words a node speaks to the outside: the
// role in its member key and in /patroni, the callbacks' role argument, the version in
// /patroni and /metrics. Patroni 3 says "master" where Patroni 4 says "primary". Warden
// reads both words everywhere; inside it, a primary is always RolePrimary. The zero
// value speaks DefaultDialect.
type Dialect int

const (
	Patroni3 Dialect = 3
	Patroni4 Dialect = 4
)

// DefaultDialect is spoken in a new cluster when the configuration names none.
const DefaultDialect = Patroni3

// Patroni4Version is the Patroni 4 release Warden is tested against and reports in
// /patroni when it speaks Patroni 4.
const Patroni4Version = "4.1.5"

// RoleWord is the word for r in this dialect: master or primary for a primary, r's own
// name otherwise.
func (d Dialect) RoleWord(r Role) string {
	if r.IsPrimary() {
		if d.Major() == Patroni4 {
			return string(RolePrimary)
		}
		return "master"
	}
	return string(r)
}

// APIVersion is the Patroni version reported by /patroni and /metrics (and so by
// `patronictl version`). The member key always carries Version: Patroni 4 members read
// it to choose how to advance their copies of member slots, and Warden's status key
// follows Patroni 3's slot protocol (positions from member keys).
func (d Dialect) APIVersion() string {
	if d.Major() == Patroni4 {
		return Patroni4Version
	}
	return Version
}

// Major is Patroni3 or Patroni4.
func (d Dialect) Major() Dialect {
	if d == 0 {
		return DefaultDialect
	}
	return d
}

// DetectDialect is what the other members' keys show (self excluded): a Patroni 4
// member (version 4 or later) means Patroni 4; a member key saying master means Patroni
// 3; one saying primary (a Warden node speaking Patroni 4) means Patroni 4. ok is false
// when no key tells, e.g. in a new cluster.
func DetectDialect(members []Member, self string) (d Dialect, ok bool) {
	for _, m := range members {
		if m.Name == self {
			continue
		}
		major, _, _ := strings.Cut(m.Version, ".")
		if n, err := strconv.Atoi(major); err == nil && n >= 4 {
			return Patroni4, true
		}
		switch m.RoleWritten {
		case "master":
			d, ok = Patroni3, true
		case string(RolePrimary):
			if !ok {
				d, ok = Patroni4, true
			}
		}
	}
	return d, ok
}
