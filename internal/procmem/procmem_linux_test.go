package procmem

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestReadOnlyMapping(t *testing.T) {
	const exe = "/usr/bin/warden"
	for _, c := range []struct {
		line       string
		start, end uintptr
		ok         bool
	}{
		{"00400000-010fa000 r-xp 00000000 fe:00 10313733     /usr/bin/warden", 0x400000, 0x10fa000, true},
		{"010fa000-02048000 r--p 00cfa000 fe:00 10313733     /usr/bin/warden", 0x10fa000, 0x2048000, true},
		// Writable: MADV_DONTNEED would drop its data.
		{"02048000-020ff000 rw-p 01c48000 fe:00 10313733     /usr/bin/warden", 0, 0, false},
		// Shared mappings and other files are left alone.
		{"00400000-010fa000 r-xs 00000000 fe:00 10313733     /usr/bin/warden", 0, 0, false},
		{"7f86f7981000-7f86f7ad7000 r-xp 00026000 fe:00 326269  /usr/lib/x86_64-linux-gnu/libc.so.6", 0, 0, false},
		{"252f88000000-252f88800000 rw-p 00000000 00:00 0", 0, 0, false},
		{"garbage", 0, 0, false},
	} {
		start, end, ok := readOnlyMapping(c.line, exe)
		if start != c.start || end != c.end || ok != c.ok {
			t.Errorf("%q: got %x-%x %v, want %x-%x %v", c.line, start, end, ok, c.start, c.end, c.ok)
		}
	}
}

func rssFileKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseDropsExecutablePages: after Release the test binary's file-backed RSS falls,
// and the code keeps running (the pages come back from the page cache on use).
func TestReleaseDropsExecutablePages(t *testing.T) {
	before := rssFileKiB(t)
	Release()
	after := rssFileKiB(t)
	if after >= before {
		t.Errorf("file-backed RSS %d KiB -> %d KiB: nothing released", before, after)
	}
	t.Logf("file-backed RSS %d KiB -> %d KiB", before, after)
	if s := strings.Repeat("x", 3); s != "xxx" {
		t.Fatal("code after Release misbehaved")
	}
}

func TestRELROLimitsReleaseToCode(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	// The test binary is built like warden; either answer is fine, but it must not fail
	// open on a readable ELF file, and an unreadable one counts as having RELRO.
	t.Logf("test binary has RELRO: %v", hasRELRO(exe))
	if !hasRELRO("/nonexistent/warden") {
		t.Error("an unreadable executable must be treated as having RELRO")
	}
	if !executable("00400000-010fa000 r-xp 00000000 fe:00 1 /usr/bin/warden") || executable("010fa000-02048000 r--p 00cfa000 fe:00 1 /usr/bin/warden") {
		t.Error("executable() misreads the permissions")
	}
}
