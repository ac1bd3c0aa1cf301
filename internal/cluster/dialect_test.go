package cluster

import "testing"

func TestDialectWords(t *testing.T) {
	for _, tc := range []struct {
		d                     Dialect
		primary, replica, ver string
	}{
		{0, "master", "replica", "3.0.2"},
		{Patroni3, "master", "replica", "3.0.2"},
		{Patroni4, "primary", "replica", Patroni4Version},
	} {
		if got := tc.d.RoleWord(RolePrimary); got != tc.primary {
			t.Errorf("Patroni %d: primary is %q", tc.d, got)
		}
		if got := tc.d.RoleWord("master"); got != tc.primary {
			t.Errorf("Patroni %d: master is %q", tc.d, got)
		}
		if got := tc.d.RoleWord(RoleReplica); got != tc.replica {
			t.Errorf("Patroni %d: replica is %q", tc.d, got)
		}
		if got := tc.d.RoleWord(RoleStandbyLeader); got != "standby_leader" {
			t.Errorf("Patroni %d: standby leader is %q", tc.d, got)
		}
		if got := tc.d.APIVersion(); got != tc.ver {
			t.Errorf("Patroni %d: version %q", tc.d, got)
		}
	}
}

func TestDetectDialect(t *testing.T) {
	key := func(name, role, version string) Member {
		return DecodeMember(name, []byte(`{"role":"`+role+`","version":"`+version+`","state":"running"}`))
	}
	for _, tc := range []struct {
		name    string
		members []Member
		want    Dialect
		ok      bool
	}{
		{"new cluster", nil, 0, false},
		{"only self", []Member{key("me", "primary", "4.1.5")}, 0, false},
		{"patroni 3 leader", []Member{key("a", "master", "3.0.2"), key("b", "replica", "3.0.2")}, Patroni3, true},
		{"patroni 4 replica only", []Member{key("b", "replica", "4.0.3")}, Patroni4, true},
		{"patroni 4 leader", []Member{key("a", "primary", "4.1.5")}, Patroni4, true},
		{"warden speaking patroni 4", []Member{key("a", "primary", "3.0.2"), key("b", "replica", "3.0.2")}, Patroni4, true},
		{"patroni 3 replicas tell nothing", []Member{key("b", "replica", "3.0.2")}, 0, false},
		{"master wins over a warden primary", []Member{key("a", "primary", "3.0.2"), key("b", "master", "3.0.2")}, Patroni3, true},
		{"mid-upgrade to patroni 4", []Member{key("a", "master", "3.0.2"), key("b", "replica", "4.1.5")}, Patroni4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DetectDialect(tc.members, "me")
			if got != tc.want || ok != tc.ok {
				t.Errorf("DetectDialect = %d %v, want %d %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if m := DecodeMember("a", []byte(`{"role":"master"}`)); m.Role != RolePrimary || m.RoleWritten != "master" {
		t.Errorf("a Patroni 3 key reads as %+v", m)
	}
}
