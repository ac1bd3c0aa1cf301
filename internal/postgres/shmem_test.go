package postgres

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestWaitShmemDetached holds a real System V segment named by a postmaster.pid, as
// a killed postmaster's children do, and lets it go.
func TestWaitShmemDetached(t *testing.T) {
	id, _, errno := syscall.Syscall(syscall.SYS_SHMGET, 0 /* IPC_PRIVATE */, 4096, 0o600|01000 /* IPC_CREAT */)
	if errno != 0 {
		t.Skipf("shmget: %v", errno)
	}
	defer syscall.Syscall(syscall.SYS_SHMCTL, id, 0 /* IPC_RMID */, 0)
	addr, _, errno := syscall.Syscall(syscall.SYS_SHMAT, id, 0, 0)
	if errno != 0 {
		t.Fatalf("shmat: %v", errno)
	}
	dir := t.TempDir()
	pid := fmt.Sprintf("999999\n%s\n1700000000\n5432\n/tmp\n127.0.0.1\n  1234567   %d\nready\n", dir, id)
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(pid), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, attached, err := shmemAttached(dir); err != nil || got != int(id) || attached != 1 {
		t.Fatalf("shmemAttached = %d, %d, %v; want %d, 1", got, attached, err, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	told := 0
	err := WaitShmemDetached(ctx, dir, func(int, int) { told++ })
	cancel()
	if err == nil || told != 1 {
		t.Fatalf("WaitShmemDetached with a process attached = %v (told %d)", err, told)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		syscall.Syscall(syscall.SYS_SHMDT, addr, 0, 0)
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitShmemDetached(ctx, dir, func(int, int) {}); err != nil {
		t.Fatalf("after detaching: %v", err)
	}
	if err := WaitShmemDetached(ctx, t.TempDir(), func(int, int) { t.Error("nothing to wait for") }); err != nil {
		t.Fatal(err)
	}
}
