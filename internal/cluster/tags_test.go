package cluster

import (
	"reflect"
	"testing"
)

func TestPublishedTags(t *testing.T) {
	got := PublishedTags(map[string]any{
		"nostream": false, "nosync": "off", "clonefrom": true, "noloadbalance": false,
		"nofailover": false, "replicatefrom": "pg-1", "dc": "east",
	})
	want := map[string]any{"clonefrom": true, "replicatefrom": "pg-1", "dc": "east"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
	got = PublishedTags(map[string]any{"nofailover": false, "failover_priority": 0, "nostream": "yes"})
	want = map[string]any{"nofailover": false, "failover_priority": 0, "nostream": "yes"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
}

// Patroni 4.1: nosync / sync_priority follow the same rules as nofailover / failover_priority.
func TestSyncPriorityTags(t *testing.T) {
	for _, tc := range []struct {
		tags     map[string]any
		noSync   bool
		priority int
	}{
		{map[string]any{}, false, 1},
		{map[string]any{"sync_priority": 3}, false, 3},
		{map[string]any{"sync_priority": "0"}, true, 0},
		{map[string]any{"nosync": true, "sync_priority": 5}, true, 0},
		{map[string]any{"nosync": false, "sync_priority": 0}, false, 0},
		{map[string]any{"nosync": "yes"}, true, 0},
	} {
		if got := TagsNoSync(tc.tags); got != tc.noSync {
			t.Errorf("TagsNoSync(%v) = %v", tc.tags, got)
		}
		if got := TagsSyncPriority(tc.tags); got != tc.priority {
			t.Errorf("TagsSyncPriority(%v) = %d", tc.tags, got)
		}
	}
	got := PublishedTags(map[string]any{"nosync": false, "sync_priority": 2})
	if want := map[string]any{"nosync": false, "sync_priority": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
}
