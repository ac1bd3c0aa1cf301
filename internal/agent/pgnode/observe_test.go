package pgnode

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/warden-ha/warden/internal/postgres"
)

// TestNoAnswer: only a connection or query that got no reply before its deadline counts
// as no answer; a refused connection or an error reply is an answer.
func TestNoAnswer(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		// Accepted, never answered: a SIGSTOPped postmaster.
		var held []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	connect := func(port int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := postgres.Connect(ctx, postgres.ConnParams{Host: "127.0.0.1", Port: port, User: "postgres"})
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"accepted, never answered", connect(silent.Addr().(*net.TCPAddr).Port), true},
		{"connection refused", connect(refusedPort), false},
		{"error reply", fmt.Errorf("observe: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}), false},
		{"statement timeout reply", fmt.Errorf("observe: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}), false},
		{"deadline", fmt.Errorf("observe: %w", context.DeadlineExceeded), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to classify")
			}
			if got := noAnswer(tc.err); got != tc.want {
				t.Errorf("noAnswer(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
