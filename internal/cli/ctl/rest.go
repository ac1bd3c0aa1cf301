package ctl

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/keypair"
)

// defaultRESTTimeout bounds calls that answer at once (reload, pause, version).
const defaultRESTTimeout = 30 * time.Second

// restClient calls members' REST API with the ctl section's TLS and Basic auth, as
// patronictl's PatroniRequest does.
type restClient struct {
	http               *http.Client
	username, password string
}

type restResponse struct {
	Status int
	Body   string
}

func newRESTClient(s *settings) (*restClient, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.Insecure} //nolint:gosec // -k / ctl.insecure asked for it
	if s.CACert != "" {
		pem, err := os.ReadFile(s.CACert)
		if err != nil {
			return nil, fmt.Errorf("ctl cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ctl cacert %s: no PEM certificate found", s.CACert)
		}
		tlsCfg.RootCAs = pool
	}
	if s.CertFile != "" {
		pair, err := keypair.Load(s.CertFile, s.KeyFile, s.KeyPassword.Reveal())
		if err != nil {
			return nil, fmt.Errorf("ctl certfile: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{
		TLSClientConfig:   tlsCfg,
		DialContext:       (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableKeepAlives: true, // Patroni's server speaks HTTP/1.0
	}
	return &restClient{http: &http.Client{Transport: tr}, username: s.Username, password: s.Password.Reveal()}, nil
}

// endpointURL replaces the path of a member's api_url with /endpoint.
func endpointURL(apiURL, endpoint string) (string, error) {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("member has no usable api_url %q", apiURL)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/" + endpoint}).String(), nil
}

// do sends one request; an error means no HTTP answer (connection refused, timeout).
func (r *restClient) do(ctx context.Context, m cluster.Member, method, endpoint string, body any, timeout time.Duration) (restResponse, error) {
	target, err := endpointURL(m.APIURL, endpoint)
	if err != nil {
		return restResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return restResponse{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return restResponse{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Patroni/"+cluster.Version+" warden-ctl")
	if r.username != "" {
		req.SetBasicAuth(r.username, r.password)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return restResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return restResponse{}, err
	}
	return restResponse{Status: resp.StatusCode, Body: string(b)}, nil
}
