package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// FixMe marks a value the operator must fill in, as in Patroni's generated samples.
const FixMe = "#FIXME"

// SampleHost holds the facts about this host a sample configuration is filled with.
type SampleHost struct {
	Name    string // member name, usually the host name
	Address string // IP address other members reach this host at
	BinDir  string // PostgreSQL binaries; "" to leave bin_dir out (PATH is searched)
	DataDir string
}

var sampleTemplate = template.Must(template.New("sample").Funcs(template.FuncMap{"q": yamlScalar, "hostPort": hostPort}).Parse(`# Warden configuration, in Patroni's format: a Patroni YAML file works unchanged.
# Written by ` + "`warden generate-config`" + `. Replace every '#FIXME', then check the file with
#   warden validate-config FILE
# and start the node with ` + "`warden FILE`" + ` as the postgres OS user.
# Every key is described in docs/configuration.md.

scope: '#FIXME'        # cluster name: the same on every member
namespace: /service/   # DCS keys live under /<namespace>/<scope>/
# this member's name: unique in the cluster
name: {{q .Name}}

log:
  level: INFO          # DEBUG, INFO, WARNING, ERROR or CRITICAL; SIGHUP applies a change
  format: text         # text (Patroni's lines) or json (Patroni 3.3's log.type: json)
  # dir: /var/log/warden  # write patroni.log here instead of stderr
  file_size: 25000000  # bytes before patroni.log is rotated to patroni.log.1
  file_num: 4          # rotated files kept (patroni.log.1 ... .4)

restapi:
  # address:port the REST API binds, and how other members, HAProxy and ctl reach it
  listen: {{q (hostPort .Address 8008)}}
  connect_address: {{q (hostPort .Address 8008)}}
  # authentication:          # required by the endpoints that change things
  #   username: admin
  #   password: '#FIXME'
  # certfile: /etc/warden/server.pem  # serve HTTPS (keyfile, cafile, verify_client)

etcd3:
  # host:port of each etcd member, comma-separated
  hosts: {{q (hostPort .Address 2379)}}
  # protocol: https          # with cacert, cert, key; username and password for auth

bootstrap:
  # dcs is written to the cluster's /config key by the member that initializes the
  # cluster; change it later with ` + "`warden ctl edit-config`" + `, not here.
  dcs:
    ttl: 30                  # leader lease, seconds
    loop_wait: 10            # seconds between HA cycles
    retry_timeout: 10        # DCS and PostgreSQL operations give up after this
    maximum_lag_on_failover: 1048576  # bytes a replica may lag and still be promoted
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        max_connections: 100
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
  initdb:                    # options for initdb when this member creates the cluster
  - encoding: UTF8
  - data-checksums
  pg_hba:                    # appended to the pg_hba.conf initdb writes
  - host replication replicator all scram-sha-256
  - host all all all scram-sha-256

postgresql:
  listen: {{q (hostPort .Address 5432)}}
  connect_address: {{q (hostPort .Address 5432)}}
  data_dir: {{q .DataDir}}
{{- if .BinDir}}
  bin_dir: {{q .BinDir}}
{{- end}}
  pgpass: /tmp/pgpass0       # written by Warden for replication and pg_rewind
  authentication:
    superuser:
      username: postgres
      password: '#FIXME'
    replication:
      username: replicator
      password: '#FIXME'
    rewind:                  # used by pg_rewind
      username: rewind_user
      password: '#FIXME'
  parameters:                # this node's own settings, over bootstrap.dcs's
    unix_socket_directories: /var/run/postgresql
  # callbacks:               # scripts called as: script <action> <role> <scope>
  #   on_role_change: /etc/warden/on_role_change.sh

watchdog:
  mode: automatic            # off, automatic or required

tags:
  failover_priority: 1       # 0 never becomes leader (as nofailover: true)
  noloadbalance: false       # true makes GET /replica answer 503
  clonefrom: true            # offers this member as a pg_basebackup source
  nosync: false              # true keeps it from being a synchronous standby

warden:                      # Warden's own settings; Patroni ignores this section
  patroni_version: auto      # master (3) or primary (4) in member keys, /patroni, callbacks;
                             # auto: as the other members' keys show, 3 in a new cluster
`))

// Sample renders a documented sample configuration for host, with Patroni's key names.
func Sample(host SampleHost) string {
	var b strings.Builder
	if err := sampleTemplate.Execute(&b, host); err != nil {
		panic(err) // the template is fixed and its data are strings
	}
	return b.String()
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

var plainScalar = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./:-]*$`)

// yamlScalar writes s plain when YAML reads it back as the same string, else quoted.
func yamlScalar(s string) string {
	if plainScalar.MatchString(s) && !looksTyped(s) {
		return s
	}
	return strconv.Quote(s)
}

func looksTyped(s string) bool {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return true
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n":
		return true
	}
	return false
}
