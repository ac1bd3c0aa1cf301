package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"

	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/logging"
)

// logFileName is Patroni's: log.dir/patroni.log, rotated to patroni.log.1 ... .N, so
// existing logrotate rules, shippers and greps keep working.
const logFileName = "patroni.log"

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	l, err := openLog(w, config.Log{Level: level})
	if err != nil {
		return nil, err
	}
	return l.Logger, nil
}

// agentLog is the agent's logger and the part of it a reload can change.
type agentLog struct {
	*slog.Logger
	level *slog.LevelVar
	file  *logging.File // nil when writing to stderr

	mu   sync.Mutex // SIGHUP and POST /reload may reload at the same time
	conf config.Log
}

// openLog follows the log section: level, format (text or JSON) and dir, where
// patroni.log is written and rotated after file_size bytes, keeping file_num old files.
func openLog(stderr io.Writer, c config.Log) (*agentLog, error) {
	lvl, err := logging.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	l := &agentLog{level: new(slog.LevelVar), conf: c}
	l.level.Set(lvl)
	w := stderr
	if c.Dir != "" {
		if err := os.MkdirAll(c.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("log.dir: %w", err)
		}
		mode := c.Mode
		if mode == 0 {
			mode = 0o600
		}
		if l.file, err = logging.OpenFile(filepath.Join(c.Dir, logFileName), c.FileSize, c.FileNum, mode); err != nil {
			return nil, fmt.Errorf("log.dir: %w", err)
		}
		w = l.file
	}
	opts := logging.Options{Level: l.level, Format: c.Template, DateFormat: c.DateFormat}
	var h slog.Handler = logging.NewText(w, opts)
	if c.Format == "json" {
		h = logging.NewJSON(w, opts, c.StaticFields)
	}
	l.Logger = slog.New(h)
	return l, nil
}

// reload applies a changed log.level at once; the other log settings need a restart,
// which is said in the log rather than half-applied.
func (l *agentLog) reload(c config.Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.Level != l.conf.Level {
		if lvl, err := logging.ParseLevel(c.Level); err == nil {
			// Said at whichever of the two levels is more verbose, so it is seen.
			if lvl < l.level.Level() {
				l.level.Set(lvl)
			}
			l.Logger.Warn("log.level changed", "from", l.conf.Level, "to", c.Level)
			l.level.Set(lvl)
			l.conf.Level = c.Level
		}
	}
	c.Level = l.conf.Level
	if !reflect.DeepEqual(c, l.conf) {
		l.Logger.Warn("the log section changed beyond log.level; restart Warden to apply it")
	}
}

// Close closes the log file, if any.
func (l *agentLog) Close() {
	if l.file != nil {
		_ = l.file.Close()
	}
}
