package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// alive: the process exists and is not a zombie. PID 1 here does not reap orphans, so a
// killed daemonized postmaster stays a zombie that still answers kill(pid, 0).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	st, ok := procStat(pid)
	return ok && st.state != "Z"
}

type stat struct {
	state       string
	ppid        int
	utime, stim uint64
	comm        string
}

func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, false
	}
	open, closeP := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closeP < 0 {
		return stat{}, false
	}
	f := strings.Fields(string(b[closeP+1:]))
	if len(f) < 13 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	stt, _ := strconv.ParseUint(f[12], 10, 64)
	return stat{state: f[0], ppid: ppid, utime: ut, stim: stt, comm: string(b[open+1 : closeP])}, true
}

// descendants lists every live descendant of pid.
func descendants(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(p); ok {
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.Atoi(f[1])
				return v
			}
		}
	}
	return 0
}

// pidFile reads the first line of a postmaster.pid; 0 when absent.
func pidFile(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

// killPostmaster SIGKILLs a postmaster, its process group and its children.
func killPostmaster(pm int) {
	if pm <= 0 {
		return
	}
	kids := descendants(pm)
	_ = syscall.Kill(-pm, syscall.SIGKILL)
	_ = syscall.Kill(pm, syscall.SIGKILL)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
}

func waitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// registry remembers every process the benchmark started or must stop, for the final
// cleanup (also on SIGINT/SIGTERM).
type registry struct {
	mu    sync.Mutex
	pids  map[int]string
	pms   map[string]bool // data directories whose postmaster must be killed
	dirs  []string
	stops []int // SIGSTOPped processes to SIGCONT before killing
}

var reg = &registry{pids: map[int]string{}, pms: map[string]bool{}}

func (r *registry) add(pid int, what string) {
	r.mu.Lock()
	r.pids[pid] = what
	r.mu.Unlock()
}

func (r *registry) dataDir(d string) {
	r.mu.Lock()
	r.pms[d] = true
	r.mu.Unlock()
}

func (r *registry) tempDir(d string) {
	r.mu.Lock()
	r.dirs = append(r.dirs, d)
	r.mu.Unlock()
}

// cleanup kills everything registered, by PID, and removes the temporary directories
// unless keep is set.
func (r *registry) cleanup(keep bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid := range r.pids {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGCONT)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for d := range r.pms {
		if pm := pidFile(d); alive(pm) {
			killPostmaster(pm)
		}
	}
	for pid := range r.pids {
		waitDead(pid, 5*time.Second)
	}
	if !keep {
		for _, d := range r.dirs {
			_ = os.RemoveAll(d)
		}
	}
}
