package etcd3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The etcd client waits for a ready connection on every call, so a certificate that etcd
// refuses (or that does not verify etcd's) shows up only as "context deadline exceeded",
// retried forever by the HA loop. Such mistakes never heal by retrying: New checks them
// once and stops the start naming the endpoint and the reason, while an etcd that is
// merely unreachable is left to the HA loop, as in Patroni ("DCS is not accessible").

// ErrRefused marks a start-up failure that retrying cannot fix: a certificate, a password
// or a permission.
var ErrRefused = errors.New("refused by etcd")

// http2Preface makes an etcd server (gRPC behind cmux) answer, so that a client
// certificate refused after a TLS 1.3 handshake surfaces as an alert on the first read.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// checkTLS dials every https endpoint with cfg and fails only if none of them completes a
// TLS session and at least one refused on certificate grounds: one etcd down among three
// is a normal case, a wrong CA is not.
func checkTLS(ctx context.Context, endpoints []string, cfg *tls.Config, timeout time.Duration) error {
	var certErrs []string
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "https" {
			return nil
		}
		err = tlsSession(ctx, u.Host, cfg, timeout)
		if err == nil {
			return nil
		}
		if isCertificateError(err) {
			certErrs = append(certErrs, fmt.Sprintf("%s: %s", ep, explainTLS(err)))
		}
	}
	if len(certErrs) == 0 {
		return nil
	}
	return fmt.Errorf("etcd TLS: %s: %w", strings.Join(certErrs, "; "), ErrRefused)
}

func tlsSession(ctx context.Context, hostport string, cfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg.Clone()}
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := conn.Write([]byte(http2Preface)); err != nil {
		return err
	}
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil && isCertificateError(err) {
		return err
	}
	return nil
}

func isCertificateError(err error) bool {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "x509:") || strings.Contains(s, "remote error: tls:") ||
		strings.Contains(s, "tls: ") && strings.Contains(s, "certificate")
}

// explainTLS adds which setting to look at to the TLS library's reason.
func explainTLS(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "remote error"):
		return s + " (etcd refused the client certificate: set cert and key to a certificate signed by the CA in etcd's --trusted-ca-file)"
	case strings.Contains(s, "x509:"):
		return s + " (etcd's server certificate does not verify: check cacert, and that the certificate names the host as written in hosts)"
	}
	return s
}

// probe reads the cluster prefix once, bounded by retry_timeout. Refusals (password,
// permission) stop the start; an unreachable etcd is logged and left to the HA loop.
func probe(ctx context.Context, cli *clientv3.Client, endpoints []string, prefix string, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	switch {
	case err == nil:
		return nil
	case isRefusal(err):
		return fmt.Errorf("etcd %v: reading %s: %v: %w", endpoints, prefix, explainAuth(err), ErrRefused)
	}
	log.Warn("etcd is not reachable at start; the HA loop keeps retrying", "endpoints", strings.Join(endpoints, ","), "err", err)
	return nil
}

func isRefusal(err error) bool {
	switch rpctypes.Error(err) {
	case rpctypes.ErrPermissionDenied, rpctypes.ErrAuthFailed, rpctypes.ErrUserEmpty, rpctypes.ErrInvalidAuthToken, rpctypes.ErrUserNotFound:
		return true
	}
	return false
}

func explainAuth(err error) string {
	s := err.Error()
	switch rpctypes.Error(err) {
	case rpctypes.ErrPermissionDenied:
		return s + " (the etcd user's role must grant readwrite on the cluster prefix)"
	case rpctypes.ErrAuthFailed, rpctypes.ErrUserNotFound:
		return s + " (check username and password)"
	case rpctypes.ErrUserEmpty:
		return s + " (etcd has authentication enabled: set username and password)"
	}
	return s
}

// explainClient wraps clientv3.New's error: with a username it authenticates at once, so
// a wrong password (or an etcd that does not answer) shows up here.
func explainClient(cc ClientConfig, err error) error {
	if isRefusal(err) {
		return fmt.Errorf("etcd %v: authenticating as %q: %v: %w", cc.Endpoints, cc.Username, explainAuth(err), ErrRefused)
	}
	if errors.Is(err, context.DeadlineExceeded) && cc.Username != "" {
		return fmt.Errorf("etcd %v: authenticating as %q: no answer within %s: %w", cc.Endpoints, cc.Username, cc.DialTimeout, err)
	}
	return fmt.Errorf("etcd client %v: %w", cc.Endpoints, err)
}
