package postgres

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// shmemAttached finds the System V shared memory segment of dataDir's last postmaster
// (its id from postmaster.pid, else the key PostgreSQL derives from the directory's
// inode) in /proc/sysvipc/shm and returns its id and how many processes are attached.
func shmemAttached(dataDir string) (id, attached int, err error) {
	wantID := -1
	if b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid")); err == nil {
		lines := strings.Split(string(b), "\n")
		if len(lines) > 6 {
			if f := strings.Fields(lines[6]); len(f) == 2 {
				wantID, _ = strconv.Atoi(f[1])
			}
		}
	}
	var wantKey uint64
	if st, err := os.Stat(dataDir); err == nil {
		wantKey = st.Sys().(*syscall.Stat_t).Ino
	}
	table, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		key, _ := strconv.ParseInt(f[0], 10, 64)
		shmid, _ := strconv.Atoi(f[1])
		nattch, _ := strconv.Atoi(f[6])
		if shmid == wantID || (wantID < 0 && wantKey != 0 && uint64(key) == wantKey) {
			return shmid, nattch, nil
		}
	}
	return 0, 0, nil
}

// WaitShmemDetached waits until no process is attached to the shared memory of the
// data directory's previous postmaster. After a postmaster is killed its children take
// a moment to notice (PostgreSQL 18's I/O workers among them), and a new postmaster
// refuses to start while they hold it ("pre-existing shared memory block is still in
// use"). waiting is called once if there is something to wait for.
func WaitShmemDetached(ctx context.Context, dataDir string, waiting func(id, attached int)) error {
	told := false
	for {
		id, attached, err := shmemAttached(dataDir)
		if err != nil || attached == 0 {
			return nil // without /proc/sysvipc PostgreSQL's own check still applies
		}
		if !told {
			waiting(id, attached)
			told = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d processes of the previous postmaster are still attached to its shared memory (id %d): %w", attached, id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
