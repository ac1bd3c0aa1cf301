// Package client fetches a member's status from its REST API: agents use it to compare
// WAL positions in leader races, the CLI to show members. It understands both Warden's
// and Patroni 3.0.2's GET /patroni answers.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// DefaultTimeout bounds a status request: a peer that cannot answer in 2s is of no use
// to a leader race that must finish within a loop.
const DefaultTimeout = 2 * time.Second

// maxBody bounds how much of an answer is read; a status is a few kilobytes.
const maxBody = 1 << 20

// Options configures a Client.
type Options struct {
	Timeout            time.Duration
	TLS                *tls.Config
	Username, Password string
}

// Client is safe for concurrent use and reuses connections.
type Client struct {
	http *http.Client
	opts Options
}

// PeerStatus is the part of a member's /patroni answer Warden decides on.
type PeerStatus struct {
	Name       string
	State      string
	Role       cluster.Role
	InRecovery bool
	// HasWAL: the answer carried a WAL position (xlog). Patroni counts a member without
	// one as unreachable in leader races: its PostgreSQL is not running.
	HasWAL bool
	// WAL is xlog.location on a primary, else max(received_location, replayed_location).
	WAL              uint64
	ReceivedLSN      uint64
	ReplayedLSN      uint64
	Timeline         int
	Tags             map[string]any
	NoFailover       bool
	FailoverPriority int
	WatchdogFailed   bool
	// Raw is the whole answer, numbers as json.Number so LSNs keep their precision.
	Raw map[string]any
}

// New builds a client.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = opts.TLS
	tr.MaxIdleConnsPerHost = 4
	tr.ResponseHeaderTimeout = opts.Timeout
	return &Client{http: &http.Client{Transport: tr, Timeout: opts.Timeout}, opts: opts}
}

// Status fetches and parses GET apiURL (a member's api_url, http://host:port/patroni).
func (c *Client) Status(ctx context.Context, apiURL string) (PeerStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL, nil)
	if err != nil {
		return PeerStatus{}, fmt.Errorf("status of %s: %w", apiURL, err)
	}
	if c.opts.Username != "" {
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return PeerStatus{}, fmt.Errorf("status of %s: %w", apiURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return PeerStatus{}, fmt.Errorf("status of %s: read body: %w", apiURL, err)
	}
	// Patroni answers health-check style paths with 503 and a valid body; only a body
	// that does not parse is an error.
	ps, err := ParseStatus(body)
	if err != nil {
		return PeerStatus{}, fmt.Errorf("status of %s: HTTP %d: %w", apiURL, resp.StatusCode, err)
	}
	return ps, nil
}

// endpoint is apiURL (a member's api_url) with its path replaced, as Patroni does.
func endpoint(apiURL, path string) (*url.URL, error) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return nil, err
	}
	u.Path, u.RawQuery = path, ""
	return u, nil
}

// Answers reports whether an agent answers GET /liveness at apiURL with any HTTP status
// (Patroni 4's check for a node already running under the same name).
func (c *Client) Answers(ctx context.Context, apiURL string) bool {
	u, err := endpoint(apiURL, "/liveness")
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// PostFailsafe sends POST /failsafe with body to the member whose api_url is apiURL (the
// path is replaced, as Patroni does) and returns the status code and the answer's text.
func (c *Client) PostFailsafe(ctx context.Context, apiURL string, body []byte) (int, string, error) {
	u, err := endpoint(apiURL, "/failsafe")
	if err != nil {
		return 0, "", fmt.Errorf("POST failsafe to %s: %w", apiURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("POST %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.opts.Username != "" {
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("POST %s: read body: %w", u, err)
	}
	return resp.StatusCode, string(text), nil
}

// ParseStatus parses a /patroni body from Warden or Patroni.
func ParseStatus(body []byte) (PeerStatus, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var raw map[string]any
	if err := d.Decode(&raw); err != nil {
		return PeerStatus{}, fmt.Errorf("decode status: %w", err)
	}
	if raw == nil {
		return PeerStatus{}, fmt.Errorf("decode status: not a JSON object")
	}
	ps := PeerStatus{Raw: raw}
	ps.State, _ = raw["state"].(string)
	role, _ := raw["role"].(string)
	ps.Role = cluster.Role(role)
	if ps.Role == "master" {
		ps.Role = cluster.RolePrimary
	}
	if p, ok := raw["patroni"].(map[string]any); ok {
		ps.Name, _ = p["name"].(string)
	}
	if n, ok := toInt(raw["timeline"]); ok {
		ps.Timeline = int(n)
	}
	xlog, hasXlog := raw["xlog"].(map[string]any)
	ps.HasWAL = hasXlog
	if loc, ok := toUint(xlog["location"]); ok {
		ps.WAL = loc
	} else {
		ps.ReceivedLSN, _ = toUint(xlog["received_location"])
		ps.ReplayedLSN, _ = toUint(xlog["replayed_location"])
		ps.WAL = max(ps.ReceivedLSN, ps.ReplayedLSN)
		// Patroni 3 infers recovery from the missing location; 4.x also looks at role.
		ps.InRecovery = hasXlog || !ps.Role.IsPrimary()
	}
	if tags, ok := raw["tags"].(map[string]any); ok {
		ps.Tags = normalizeTags(tags)
	}
	ps.NoFailover = cluster.TagsNoFailover(ps.Tags)
	ps.FailoverPriority = cluster.TagsFailoverPriority(ps.Tags)
	ps.WatchdogFailed = cluster.Truthy(raw["watchdog_failed"])
	return ps, nil
}

// normalizeTags turns json.Number into float64, the type cluster.Truthy and
// cluster.TagsFailoverPriority expect from decoded JSON.
func normalizeTags(tags map[string]any) map[string]any {
	out := make(map[string]any, len(tags))
	for k, v := range tags {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				out[k] = float64(i)
				continue
			}
			if f, err := n.Float64(); err == nil {
				out[k] = f
				continue
			}
		}
		out[k] = v
	}
	return out
}

func toUint(v any) (uint64, bool) {
	switch n := v.(type) {
	case json.Number:
		u, err := strconv.ParseUint(n.String(), 10, 64)
		return u, err == nil
	case string:
		u, err := strconv.ParseUint(n, 10, 64)
		return u, err == nil
	}
	return 0, false
}

func toInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}
