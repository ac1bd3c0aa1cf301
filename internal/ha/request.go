package ha

import "fmt"

// request turns an operator request into a plan, or refuses it.
func request(in Input, iHold bool) (Output, bool) {
	c, r := in.Cluster, in.Request
	switch r.Kind {
	case RequestRestart:
		p := Plan{{Kind: KindRestart}}
		if iHold {
			p = Plan{{Kind: KindRefreshLeader}, {Kind: KindRestart}}
		}
		return Output{Plan: p, Reason: "restarting PostgreSQL on request"}, true
	case RequestReinitialize:
		switch {
		case iHold:
			return Output{Reason: "refused reinitialize: I am the leader", Refused: "I am the leader, can not reinitialize"}, true
		case !c.Locked():
			return Output{Reason: "refused reinitialize: the cluster has no leader", Refused: "Cluster has no leader, can not reinitialize"}, true
		}
		leader := c.LeaderName()
		return Output{
			Plan:   Plan{{Kind: KindStop, Mode: StopImmediate}, {Kind: KindReinitialize, Member: leader}},
			Reason: fmt.Sprintf("reinitializing on request: removing the data directory and cloning from leader '%s'", leader),
		}, true
	}
	return Output{Refused: fmt.Sprintf("unknown request %q", r.Kind)}, true
}
