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
