package config

import "github.com/warden-ha/warden/internal/didyoumean"

// ParameterCheck looks at one name under a parameters key and returns "" when it is
// fine, else the warning to give. Loading never removes a name for it: which names
// exist depends on the major of the binaries in bin_dir, and the agent, which runs
// them, leaves out of postgresql.conf what they do not accept.
type ParameterCheck func(name string) string

func nearest(name string, candidates []string) string { return didyoumean.Nearest(name, candidates) }

func closeEnough(name, candidate string) bool { return didyoumean.CloseEnough(name, candidate) }
