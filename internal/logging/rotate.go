package logging

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

// File is a log file rotated by size as Python's RotatingFileHandler (and so Patroni)
// rotates it: before a write that would bring the file to maxBytes, name.N-1 becomes
// name.N, ..., name becomes name.1, and a fresh name is started; at most backups old
// files are kept. Nothing is buffered and each record is one write(2) on an O_APPEND
// descriptor, so a crash loses at most the line being written.
type File struct {
	mu       sync.Mutex
	path     string
	maxBytes int64 // 0: never rotate
	backups  int   // 0: truncate instead of keeping an old file
	mode     os.FileMode
	f        *os.File
	size     int64
}

// OpenFile opens (creating with mode, or tightening an existing file to mode) the log
// file at path.
func OpenFile(path string, maxBytes int64, backups int, mode os.FileMode) (*File, error) {
	r := &File{path: path, maxBytes: maxBytes, backups: backups, mode: mode}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *File) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, r.mode)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	// A file left by an earlier run may be more open than log.mode allows.
	if st.Mode().Perm()&^r.mode != 0 {
		if err := f.Chmod(r.mode); err != nil {
			f.Close()
			return fmt.Errorf("restrict %s to %#o: %w", r.path, r.mode, err)
		}
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write writes p, rotating first when p would bring the file to maxBytes.
func (r *File) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.maxBytes > 0 && r.size > 0 && r.size+int64(len(p)) >= r.maxBytes {
		// On failure the line still goes to the file already open: losing lines
		// would be worse than an oversized file.
		_ = r.rotate()
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *File) rotate() error {
	if r.backups == 0 {
		if err := r.f.Truncate(0); err != nil {
			return err
		}
		r.size = 0
		return nil
	}
	for i := r.backups - 1; i >= 1; i-- {
		src := r.path + "." + strconv.Itoa(i)
		if _, err := os.Stat(src); err == nil {
			if err := os.Rename(src, r.path+"."+strconv.Itoa(i+1)); err != nil {
				return err
			}
		}
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return err
	}
	old := r.f
	if err := r.open(); err != nil {
		// Keep writing into what is now name.1.
		return err
	}
	return old.Close()
}

// Close closes the file.
func (r *File) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}
