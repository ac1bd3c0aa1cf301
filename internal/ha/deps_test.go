package ha

import (
	"os/exec"
	"strings"
	"testing"
)

// The core must stay pure: no process, network, store or database packages.
func TestCoreImportsNoEffects(t *testing.T) {
	// Direct imports of the core and of the project packages it uses; the standard
	// library's own internals (time needs syscall) are not the core's choice.
	out, err := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{join .Imports " "}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	banned := []string{"os/exec", "net", "net/http", "go.etcd.io/", "github.com/jackc/pgx", "os/signal", "syscall", "math/rand"}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if dep == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b)) {
				t.Errorf("internal/ha depends on %s", dep)
			}
		}
	}
	src, err := exec.Command("grep", "-rn", "--include=*.go", "--exclude=*_test.go", "time.Now\\|time.Sleep\\|time.After\\|go func", ".").Output()
	if err == nil && len(src) > 0 {
		t.Errorf("clock reads or goroutines in the core:\n%s", src)
	}
}
