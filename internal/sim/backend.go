package sim

import "time"

func newBackend(now func() time.Time) backend { return newMemStore(now) }
