// Package layout is Patroni's key layout under /<namespace>/<scope>/ and the pure decoding
// of one read of that prefix into a cluster snapshot. The etcd3 store and the in-memory
// fake share it, so both produce the same snapshot from the same keys.
package layout

import (
	"encoding/json"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
)

// Key names relative to the cluster prefix.
const (
	Leader       = "leader"
	Initialize   = "initialize"
	Config       = "config"
	Status       = "status"
	LegacyOptime = "optime/leader"
	Failover     = "failover"
	Sync         = "sync"
	History      = "history"
	Failsafe     = "failsafe"
	MembersDir   = "members/"
)

// KV is one key as read from the store, with its path relative to the prefix.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64
	ModRevision    int64
	Lease          int64
}

// Wakes reports whether a change to the relative key should wake the HA loop early;
// membership is true when the change created or deleted the key. Member keys are
// rewritten whenever a member's WAL position moves and the status key after each
// refresh: neither wakes, so the leader does not wake itself. A member key appearing or
// going away does: the leader creates or drops that member's replication slot at once,
// and a rejoining replica does not wait a loop for its slot.
func Wakes(rel string, membership bool) bool {
	switch rel {
	case Leader, Config, Failover, Sync:
		return true
	}
	return membership && strings.HasPrefix(rel, MembersDir)
}

// Decode builds the snapshot. Values that do not parse decode to Patroni's defaults; it
// never fails, because one bad key written by a broken peer must not blind every node.
func Decode(kvs []KV, revision int64) *cluster.Cluster {
	c := &cluster.Cluster{Revision: revision}
	var legacy, status *KV
	for i := range kvs {
		kv := &kvs[i]
		switch kv.Key {
		case Leader:
			if len(kv.Value) > 0 {
				c.Leader = &cluster.Leader{Name: string(kv.Value), Revision: kv.ModRevision,
					CreateRevision: kv.CreateRevision, Lease: kv.Lease}
			}
		case Initialize:
			s := string(kv.Value)
			c.Initialize = &s
		case Config:
			cfg, ok := cluster.DecodeConfig(kv.Value)
			if !ok {
				// Present but invalid: an empty config that can still be replaced by CAS.
				cfg = map[string]any{}
			}
			c.Config, c.ConfigRevision = cfg, kv.ModRevision
		case Status:
			status = kv
		case LegacyOptime:
			legacy = kv
		case Failover:
			f := cluster.DecodeFailover(kv.Value)
			f.Revision = kv.ModRevision
			c.Failover = f
		case Sync:
			s := cluster.DecodeSync(kv.Value)
			s.Revision = kv.ModRevision
			c.Sync = s
		case History:
			c.History, c.HasHistory = cluster.DecodeHistory(kv.Value), true
		case Failsafe:
			var fs map[string]string
			if json.Unmarshal(kv.Value, &fs) == nil {
				c.Failsafe = fs
			}
		default:
			if name, ok := strings.CutPrefix(kv.Key, MembersDir); ok && name != "" && !strings.Contains(name, "/") {
				m := cluster.DecodeMember(name, kv.Value)
				m.Revision = kv.ModRevision
				c.Members = append(c.Members, m)
			}
		}
	}
	switch {
	case status != nil:
		c.Status = cluster.DecodeStatus(status.Value)
	case legacy != nil:
		c.Status = cluster.DecodeStatus(legacy.Value)
	}
	return c
}
