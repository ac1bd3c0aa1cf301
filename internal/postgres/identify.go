package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// IdentifySystem runs IDENTIFY_SYSTEM over a physical replication connection. On a
// standby it reports the timeline being replayed, which no SQL function exposes while
// the WAL receiver is not streaming.
func IdentifySystem(ctx context.Context, p ConnParams) (sysid string, timeline int, err error) {
	p.Database = "postgres"
	cfg, err := parseConfig(p)
	if err != nil {
		return "", 0, fmt.Errorf("identify system: %w", err)
	}
	cfg.RuntimeParams = map[string]string{"replication": "true", "application_name": "Warden"}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", 0, fmt.Errorf("identify system: connect to %s: %w", p.address(), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := conn.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil {
		return "", 0, fmt.Errorf("identify system: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 2 {
		return "", 0, fmt.Errorf("identify system: unexpected reply")
	}
	row := res[0].Rows[0]
	tli, err := strconv.Atoi(string(row[1]))
	if err != nil {
		return "", 0, fmt.Errorf("identify system: timeline %q: %w", row[1], err)
	}
	return string(row[0]), tli, nil
}
