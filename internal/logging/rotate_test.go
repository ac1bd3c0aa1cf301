package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRotationThreshold: a write that would bring the file to maxBytes goes to a fresh
// file, as Python's RotatingFileHandler does; one that stays below does not.
func TestRotationThreshold(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "patroni.log")
	f, err := OpenFile(path, 30, 4, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := "0123456789abcd\n" // 15 bytes
	mustWrite(t, f, line)
	mustWrite(t, f, line[:14]) // 29 bytes: still below 30
	if got := files(t, dir); !slices.Equal(got, []string{"patroni.log"}) {
		t.Fatalf("rotated below the threshold: %v", got)
	}
	mustWrite(t, f, "x") // 30 would reach maxBytes
	if got := files(t, dir); !slices.Equal(got, []string{"patroni.log", "patroni.log.1"}) {
		t.Fatalf("files = %v", got)
	}
	if read(t, path) != "x" || read(t, path+".1") != line+line[:14] {
		t.Fatalf("patroni.log = %q, .1 = %q", read(t, path), read(t, path+".1"))
	}
}

// TestRotationKeepsFileNum: the oldest file beyond file_num goes; the names shift by one.
func TestRotationKeepsFileNum(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "patroni.log")
	f, err := OpenFile(path, 10, 3, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 6 {
		mustWrite(t, f, fmt.Sprintf("line %d\n", i)) // 7 bytes: every second write rotates
	}
	if got := files(t, dir); !slices.Equal(got, []string{"patroni.log", "patroni.log.1", "patroni.log.2", "patroni.log.3"}) {
		t.Fatalf("files = %v", got)
	}
	for suffix, want := range map[string]string{"": "line 5\n", ".1": "line 4\n", ".2": "line 3\n", ".3": "line 2\n"} {
		if got := read(t, path+suffix); got != want {
			t.Errorf("patroni.log%s = %q, want %q", suffix, got, want)
		}
	}
}

// TestRotationWithoutBackups: file_num 0 keeps no old file: the log starts over.
func TestRotationWithoutBackups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "patroni.log")
	f, err := OpenFile(path, 10, 0, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustWrite(t, f, "first\n")
	mustWrite(t, f, "second\n")
	if got := files(t, dir); !slices.Equal(got, []string{"patroni.log"}) || read(t, path) != "second\n" {
		t.Fatalf("files = %v, patroni.log = %q", got, read(t, path))
	}
}

// TestReopenAppendsAndRestrictsMode: a restart appends to the existing file, counts its
// size toward rotation, and takes away permissions beyond the configured mode.
func TestReopenAppendsAndRestrictsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "patroni.log")
	if err := os.WriteFile(path, []byte("old run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, 12, 1, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v", st.Mode())
	}
	mustWrite(t, f, "new\n") // 8+4 = 12 reaches the threshold
	if read(t, path+".1") != "old run\n" || read(t, path) != "new\n" {
		t.Fatalf(".1 = %q, log = %q", read(t, path+".1"), read(t, path))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after rotation = %v", st.Mode())
	}
}

// TestNoRotationWithoutSize: file_size 0 never rotates (Python's maxBytes=0).
func TestNoRotationWithoutSize(t *testing.T) {
	dir := t.TempDir()
	f, err := OpenFile(filepath.Join(dir, "patroni.log"), 0, 4, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 100 {
		mustWrite(t, f, strings.Repeat("x", 100)+"\n")
	}
	if got := files(t, dir); len(got) != 1 {
		t.Fatalf("files = %v", got)
	}
}

func mustWrite(t *testing.T, f *File, s string) {
	t.Helper()
	if n, err := f.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("write %q: %d, %v", s, n, err)
	}
}
