package layout

import (
	"testing"
)

func TestDecodeGarbageNeverFails(t *testing.T) {
	garbage := []byte("\x00{not json")
	kvs := []KV{
		{Key: Leader, Value: []byte("a"), CreateRevision: 3, ModRevision: 5, Lease: 7},
		{Key: "members/a", Value: garbage, ModRevision: 4},
		{Key: "members/b/extra", Value: []byte(`{}`)},
		{Key: Config, Value: garbage, ModRevision: 9},
		{Key: Status, Value: garbage},
		{Key: Failover, Value: garbage},
		{Key: Sync, Value: garbage},
		{Key: History, Value: garbage},
		{Key: Failsafe, Value: garbage},
	}
	c := Decode(kvs, 11)
	if c.LeaderName() != "a" || c.Leader.CreateRevision != 3 || c.Leader.Revision != 5 || c.Leader.Lease != 7 {
		t.Errorf("leader = %+v", c.Leader)
	}
	if len(c.Members) != 1 || c.Members[0].Name != "a" || c.Members[0].Revision != 4 {
		t.Errorf("members = %+v", c.Members)
	}
	if c.Config == nil || len(c.Config) != 0 || c.ConfigRevision != 9 {
		t.Errorf("config = %v rev %d", c.Config, c.ConfigRevision)
	}
	if !c.HasHistory || len(c.History) != 0 || c.Failsafe != nil || !c.Failover.Empty() || c.Revision != 11 {
		t.Errorf("decoded %+v", c)
	}
}

func TestDecodeStatusFallsBackToLegacyOptime(t *testing.T) {
	c := Decode([]KV{{Key: LegacyOptime, Value: []byte("1234")}}, 1)
	if c.Status.Optime != 1234 {
		t.Errorf("optime = %d", c.Status.Optime)
	}
	c = Decode([]KV{{Key: LegacyOptime, Value: []byte("1234")}, {Key: Status, Value: []byte(`{"optime":99}`)}}, 1)
	if c.Status.Optime != 99 {
		t.Errorf("status must win over optime/leader, got %d", c.Status.Optime)
	}
	if c.HasHistory || c.Timeline() != 0 || c.Locked() {
		t.Errorf("absent keys decoded as present: %+v", c)
	}
}

func TestWakes(t *testing.T) {
	for _, k := range []string{Leader, Config, Failover, Sync} {
		if !Wakes(k, false) || !Wakes(k, true) {
			t.Errorf("%s should wake", k)
		}
	}
	for _, k := range []string{"members/a", History, Initialize, Failsafe, Status, LegacyOptime} {
		if Wakes(k, false) {
			t.Errorf("an update of %s should not wake", k)
		}
	}
	if !Wakes("members/a", true) {
		t.Error("a member key created or deleted should wake")
	}
	for _, k := range []string{History, Initialize, Failsafe, Status} {
		if Wakes(k, true) {
			t.Errorf("creating or deleting %s should not wake", k)
		}
	}
}
