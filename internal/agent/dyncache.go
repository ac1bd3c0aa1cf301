package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/postgres"
)

// DynamicCacheFile is Patroni's copy of the dynamic configuration in the data directory:
// written whenever the configuration in force changes (once the data directory holds a
// cluster), read at start-up to run with until the DCS answers, and written back to the
// DCS by a leader that finds the config key gone.
const DynamicCacheFile = "patroni.dynamic.json"

// LoadDynamicCache reads <dataDir>/patroni.dynamic.json; ok is false when it is absent.
// A file that cannot be used is an error naming it (the caller logs it and goes on
// with bootstrap.dcs, as Patroni does).
func LoadDynamicCache(dataDir string) (raw map[string]any, d config.Dynamic, ok bool, err error) {
	path := filepath.Join(dataDir, DynamicCacheFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, d, false, nil
	}
	if err != nil {
		return nil, d, false, err
	}
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return nil, d, false, fmt.Errorf("%s: not a JSON object: %v", path, err)
	}
	// Timings that break the rule are adjusted by ParseDynamic, as for the DCS's copy.
	d, _ = config.ParseDynamic(raw)
	return raw, d, true, nil
}

// EncodeDynamicCache renders the configuration as Patroni's json.dump does (", " and
// ": " separators, no newline at the end); keys sorted.
func EncodeDynamicCache(raw map[string]any) ([]byte, error) {
	compact, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(compact))
	dec.UseNumber()
	var out bytes.Buffer
	// Re-emit token by token, adding Python's spaces after ',' and ':'.
	type frame struct {
		object bool
		n      int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if len(stack) > 0 {
			f := &stack[len(stack)-1]
			if d, isDelim := tok.(json.Delim); !isDelim || (d != '}' && d != ']') {
				switch {
				case f.object && f.n%2 == 1:
					out.WriteString(": ")
				case f.n > 0:
					out.WriteString(", ")
				}
				f.n++
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			out.WriteRune(rune(t))
			switch t {
			case '{', '[':
				stack = append(stack, frame{object: t == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			b, err := json.Marshal(t)
			if err != nil {
				return nil, err
			}
			out.Write(b)
		}
	}
	return out.Bytes(), nil
}

// saveDynamicCache writes the configuration in force to the data directory when it
// differs from what was written last (Patroni: after every cycle once PostgreSQL is
// not uninitialized). Only a data directory of this cluster (its system identifier is
// the initialize key's) gets it: one that belongs to another cluster is left untouched.
func (a *Agent) saveDynamicCache(cl *cluster.Cluster, obs Observation) {
	d := a.dynamic.Load()
	if a.opts.DataDir == "" || d.Raw == nil || obs.DataDirEmpty || reflect.DeepEqual(d.Raw, a.cacheSaved) {
		return
	}
	if sysid, ok := cl.InitializedSysID(); !ok || obs.SysID == "" || sysid != obs.SysID {
		return
	}
	b, err := EncodeDynamicCache(d.Raw)
	if err == nil {
		dir := postgres.DataDir{Path: a.opts.DataDir}
		_, err = dir.WriteFile(filepath.Join(a.opts.DataDir, DynamicCacheFile), b, 0o600)
	}
	if err != nil {
		a.log.Error("could not save the dynamic configuration", "file", DynamicCacheFile, "err", err)
		return
	}
	a.cacheSaved = d.Raw
}
