package procmem

import (
	"bufio"
	"debug/elf"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// releaseExecutable applies MADV_DONTNEED to every read-only, private, file-backed
// mapping of the executable (text, rodata, pclntab). Writable mappings are left alone:
// for them MADV_DONTNEED would discard data. So are the read-only ones of an executable
// with a RELRO segment (PIE or external linking): the dynamic linker wrote relocations
// there before making it read-only, and a refault from the file would lose them; only
// its code is released then. Errors are ignored: this is an optimisation.
func releaseExecutable() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	codeOnly := hasRELRO(exe)
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, ok := readOnlyMapping(sc.Text(), exe)
		if !ok || (codeOnly && !executable(sc.Text())) {
			continue
		}
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_DONTNEED)
	}
}

// readOnlyMapping parses one /proc/self/maps line and reports the range of a private,
// non-writable mapping of path.
func readOnlyMapping(line, path string) (uintptr, uintptr, bool) {
	f := strings.Fields(line)
	if len(f) < 6 || f[5] != path || len(f[1]) != 4 || f[1][1] != '-' || f[1][3] != 'p' {
		return 0, 0, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return 0, 0, false
	}
	return uintptr(start), uintptr(end), true
}

// hasRELRO reports whether the executable has a PT_GNU_RELRO segment (true when unsure).
func hasRELRO(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_GNU_RELRO {
			return true
		}
	}
	return false
}

// executable: the /proc/self/maps line's permissions include x.
func executable(line string) bool {
	f := strings.Fields(line)
	return len(f) > 1 && len(f[1]) == 4 && f[1][2] == 'x'
}
