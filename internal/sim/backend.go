package sim

import (
	"time"

	"github.com/warden-ha/warden/internal/dcs/dcstest"
)

// newBackend is the fake store shared with the dcs conformance suite, so the simulator
// exercises the same lease and revision semantics the etcd store is held to.
func newBackend(now func() time.Time) backend { return dcstest.NewBackend(now) }
