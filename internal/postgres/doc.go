// Package postgres holds the effects on one PostgreSQL instance, split by
// kind: a Runner for external commands, Tools (initdb, pg_basebackup,
// pg_rewind, pg_controldata, promote, single-user crash recovery), the
// Postmaster (PostgreSQL as the agent's own child, or adopted from a previous
// run), DataDir (atomic writes of the files Warden owns) and Conn (the SQL
// the agent needs). What to write and how to decide lives in pgconf.
package postgres
