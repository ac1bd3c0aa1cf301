// Package procmem keeps a long-running Warden process's resident memory small. Start-up
// (package initialisation, configuration, the first cycles, a bootstrap or pg_rewind)
// touches code that an idle agent never runs again; those pages of the executable stay
// mapped and count in the process's RSS although the kernel could drop them at any time.
// Release unmaps the executable's read-only pages from the process: they stay in the page
// cache, and the few an idle agent still runs come back on first use as minor faults.
package procmem

import "runtime/debug"

// Release returns memory the process no longer uses: the Go heap's free pages, and the
// executable's read-only mappings (see package doc). It never changes what the process
// computes; it only costs page faults on the next use of a released page.
func Release() {
	debug.FreeOSMemory()
	releaseExecutable()
}
