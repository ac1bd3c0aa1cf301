package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Setting is one pg_settings row as Warden reads it to tell what needs a restart.
type Setting struct {
	Name string
	// Current is current_setting(name): the value in force, with its unit ("16MB").
	Current string
	VarType string
	Context string
	// PendingRestart: the configuration files hold another value that only a restart applies.
	PendingRestart bool
}

// RestartSettings returns the parameters that only a restart changes (context
// postmaster) and those PostgreSQL flags pending_restart.
func (c *Conn) RestartSettings(ctx context.Context) ([]Setting, error) {
	rows, err := c.c.Query(ctx, `SELECT name, pg_catalog.current_setting(name), vartype, context, pending_restart
FROM pg_catalog.pg_settings WHERE context = 'postmaster' OR pending_restart ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("pg_settings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Setting, error) {
		var s Setting
		err := row.Scan(&s.Name, &s.Current, &s.VarType, &s.Context, &s.PendingRestart)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg_settings: %w", err)
	}
	return out, nil
}
