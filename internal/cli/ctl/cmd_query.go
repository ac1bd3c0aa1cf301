package ctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
)

type queryOptions struct {
	role, member, command, file, username, dbname, format, delimiter string
	password, watch                                                  bool
	every                                                            float64
}

func (a *app) queryCommand() *cobra.Command {
	var o queryOptions
	cmd := &cobra.Command{
		Use:   "query [CLUSTER_NAME]",
		Short: "Query a Patroni PostgreSQL member",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.query(cmd.Context(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "tsv", "Output format (pretty, tsv, json, yaml)")
	f.StringVarP(&o.file, "file", "f", "", "Execute the SQL commands from this file")
	f.BoolVar(&o.password, "password", false, "force password prompt")
	f.StringVarP(&o.username, "username", "U", "", "database user name")
	addWatchFlags(cmd, &o.watch, &o.every)
	f.StringVarP(&o.role, "role", "r", "", "The role of the query")
	f.StringVarP(&o.member, "member", "m", "", "Query a specific member")
	f.StringVar(&o.delimiter, "delimiter", "\t", "The column delimiter")
	f.StringVarP(&o.command, "command", "c", "", "The SQL commands to execute")
	f.StringVarP(&o.dbname, "dbname", "d", "", "database name to connect to")
	addGroupFlag(cmd)
	return cmd
}

func (a *app) query(ctx context.Context, args []string, o queryOptions) error {
	role, err := roleAndMember(o.role, o.member)
	if err != nil {
		return err
	}
	if o.file != "" && o.command != "" {
		return errors.New("--file and --command are mutually exclusive options")
	}
	if o.file == "" && o.command == "" {
		return errors.New("You need to specify either --command or --file")
	}
	sql := o.command
	if o.file != "" {
		b, err := os.ReadFile(o.file)
		if err != nil {
			return err
		}
		sql = string(b)
	}
	var password string
	if o.password {
		// Input is read without echo only on a terminal; the answer is never printed.
		if password, err = a.ask("Password", "", false); err != nil {
			return err
		}
	}
	name, err := a.clusterName(args)
	if err != nil {
		return err
	}
	return a.withCluster(ctx, name, func(_ dcs.Store, c *cluster.Cluster) error {
		return a.watching(ctx, o.watch, o.every, false, func() error {
			cols, rows := a.queryMember(ctx, c, role, o, password, sql)
			fmt.Fprint(a.out, printOutput(cols, rows, nil, o.format, "", o.delimiter))
			return nil
		})
	})
}

// queryMember is patronictl's query_member: errors become a row, not an exit code.
func (a *app) queryMember(ctx context.Context, c *cluster.Cluster, role string, o queryOptions, password, sql string) ([]string, [][]any) {
	failed := func(msg string) ([]string, [][]any) {
		return nil, [][]any{{a.timestamp(0), msg}}
	}
	m, ok := anyMember(c, role, o.member)
	if !ok {
		return failed(noConnection(role, o.member))
	}
	conn, err := a.connect(ctx, m, o, password)
	if err != nil {
		return failed(sqlError(err))
	}
	defer conn.Close(context.Background())
	switch role {
	case "replica", "standby", "standby-leader", "master", "primary":
		var inRecovery bool
		if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return failed(sqlError(err))
		}
		wantRecovery := role != "master" && role != "primary"
		if inRecovery != wantRecovery {
			return failed(noConnection(role, o.member))
		}
	}
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return failed(sqlError(err))
	}
	defer rows.Close()
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return failed(sqlError(err))
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = pyValue(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return failed(sqlError(err))
	}
	return cols, out
}

func noConnection(role, member string) string {
	if member != "" {
		return fmt.Sprintf("No connection to member %s is available", member)
	}
	return fmt.Sprintf("No connection to role=%s is available", role)
}

func sqlError(err error) string {
	var pe *pgconn.PgError
	msg := err.Error()
	if errors.As(err, &pe) && pe.Code != "" {
		msg = pe.Code
	}
	return "ERROR, SQLSTATE: " + strings.ReplaceAll(msg, "\n", " ")
}

// connect uses the member's conn_url; user, password and database come from the flags
// or libpq's environment and password file, as psycopg does for patronictl.
func (a *app) connect(ctx context.Context, m cluster.Member, o queryOptions, password string) (*pgx.Conn, error) {
	host, port := m.HostPort()
	if host == "" {
		return nil, fmt.Errorf("member %s has no conn_url", m.Name)
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d connect_timeout=5", host, port))
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "Patroni ctl"
	}
	if o.username != "" {
		cfg.User = o.username
	}
	if password != "" {
		cfg.Password = password
	}
	if o.dbname != "" {
		cfg.Database = o.dbname
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// pyValue turns a pgx value into what str() of the psycopg value would print.
func pyValue(v any) any {
	switch t := v.(type) {
	case nil:
		return nil
	case string, int:
		return t
	case int16:
		return int(t)
	case int32:
		return int(t)
	case int64:
		return int(t)
	case bool:
		if t {
			return "True"
		}
		return "False"
	case time.Time:
		return t.Format("2006-01-02 15:04:05.999999-07:00")
	}
	return fmt.Sprint(v)
}
