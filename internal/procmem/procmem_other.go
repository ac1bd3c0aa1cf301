//go:build !linux

package procmem

func releaseExecutable() {}
