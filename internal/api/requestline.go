package api

import (
	"bytes"
	"net"
)

// HAProxy configurations written for Patroni often say `option httpchk OPTIONS/master`
// (no space): HAProxy then sends the request line `OPTIONS OPTIONS/master HTTP/1.0`.
// Python's http.server accepts any request-target and Patroni routes on substrings, so
// such checks work with Patroni; Go's server rejects a target without a leading slash
// with 400. This listener prefixes "/" to the first request line's target so the path
// reaches the handlers as "/OPTIONS/master", which routes the same as Patroni ("master"
// is a substring, "/OPTIONS/sync" is not "/sync"). Only the first request of a
// connection is examined: health checkers open one connection per check.

// maxRequestLine bounds how much the fixer buffers before giving up and passing the
// bytes through unchanged; the server's MaxHeaderBytes still applies afterwards.
const maxRequestLine = 8 << 10

type requestLineListener struct{ net.Listener }

func (l requestLineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &requestLineConn{Conn: c}, nil
}

type requestLineConn struct {
	net.Conn
	done    bool
	buf     []byte
	pending []byte
}

func (c *requestLineConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.done {
		return c.Conn.Read(p)
	}
	chunk := make([]byte, 1024)
	for {
		n, err := c.Conn.Read(chunk)
		c.buf = append(c.buf, chunk[:n]...)
		if bytes.IndexByte(c.buf, '\n') >= 0 || len(c.buf) >= maxRequestLine || err != nil {
			c.done = true
			c.pending = fixRequestLine(c.buf)
			c.buf = nil
			if len(c.pending) == 0 {
				return 0, err
			}
			m := copy(p, c.pending)
			c.pending = c.pending[m:]
			return m, nil
		}
	}
}

// fixRequestLine returns b with "/" inserted before a first-line request-target that is
// neither origin-form, absolute-form nor "*".
func fixRequestLine(b []byte) []byte {
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return b
	}
	sp := bytes.IndexByte(b[:end], ' ')
	if sp <= 0 || sp+1 >= end {
		return b
	}
	target := b[sp+1 : end]
	switch {
	case target[0] == '/' || target[0] == '*' || target[0] == ' ':
		return b
	}
	uri := target
	if i := bytes.IndexByte(uri, ' '); i >= 0 {
		uri = uri[:i]
	}
	if bytes.Contains(uri, []byte("://")) {
		return b
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, b[:sp+1]...)
	out = append(out, '/')
	return append(out, b[sp+1:]...)
}
