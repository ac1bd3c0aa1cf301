// Package pgconf is pure PostgreSQL knowledge: it renders the files Warden owns
// (postgresql.conf, pg_hba.conf, pgpass, primary_conninfo) and parses what
// PostgreSQL tells us (pg_controldata output, timeline history files). Nothing
// here touches the disk, the network or the clock, so all of it is table- and
// fuzz-tested.
package pgconf
