package agent

import (
	"fmt"
	"strings"
)

// heartbeatFilter is Patroni 4.1's log.deduplicate_heartbeat_logs: a heartbeat line
// ("no action. I am ...", also under PAUSE) identical to the previous heartbeat is not
// logged again; any other decision line ends the run, so the next heartbeat is logged.
type heartbeatFilter struct {
	on   bool
	last string
}

// skip reports whether the decision line (reason and its fields) is a repeated heartbeat.
func (f *heartbeatFilter) skip(reason string, attrs []any) bool {
	if !f.on {
		return false
	}
	if !strings.HasPrefix(reason, "no action. ") && !strings.HasPrefix(reason, "PAUSE: no action") {
		f.last = ""
		return false
	}
	line := reason + fmt.Sprint(attrs...)
	if line == f.last {
		return true
	}
	f.last = line
	return false
}
