package postgres

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type fakeRunner struct {
	cmds  []Command
	files map[string]string // content of files named in args, read during Run
	out   []byte
	err   error
}

func (f *fakeRunner) Run(_ context.Context, c Command) ([]byte, error) {
	f.cmds = append(f.cmds, c)
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--pwfile="); ok {
			b, _ := os.ReadFile(v)
			st, _ := os.Stat(v)
			f.files[v] = string(b) + "|" + st.Mode().Perm().String()
		}
	}
	return f.out, f.err
}

func TestToolsArguments(t *testing.T) {
	const secret = "s3cr3t-pw"
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	f := &fakeRunner{files: map[string]string{}}
	tools := Tools{Runner: f, BinDir: "/pg/bin", PassFile: "/home/pg/pgpass"}

	if err := tools.InitDB(ctx, data, "postgres", secret, []string{"--data-checksums"}); err != nil {
		t.Fatal(err)
	}
	if err := tools.BaseBackup(ctx, data, "host=10.0.0.1 port=5432 user=replicator", nil, []string{"--checkpoint=fast"}); err != nil {
		t.Fatal(err)
	}
	if err := tools.Rewind(ctx, data, "host=10.0.0.1 port=5432 user=rewind dbname=postgres", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := tools.CrashRecovery(ctx, data, "/etc/pg.conf", nil); err != nil {
		t.Fatal(err)
	}
	if err := tools.Promote(ctx, data); err != nil {
		t.Fatal(err)
	}

	want := [][]string{
		{"/pg/bin/initdb", "--pgdata=" + data, "--username=postgres", "--pwfile=*", "--data-checksums"},
		{"/pg/bin/pg_basebackup", "--pgdata=" + data, "-X", "stream", "--dbname=host=10.0.0.1 port=5432 user=replicator", "--checkpoint=fast"},
		{"/pg/bin/pg_rewind", "-D", data, "--source-server=host=10.0.0.1 port=5432 user=rewind dbname=postgres"},
		{"/pg/bin/postgres", "--single", "-D", data, "--config-file=/etc/pg.conf", "-c", "archive_mode=on", "-c", "archive_command=false", "template1"},
		{"/pg/bin/pg_ctl", "promote", "-w", "-t", "60", "-D", data},
	}
	for i, c := range f.cmds {
		got := append([]string{c.Path}, c.Args...)
		for j, a := range got {
			if strings.HasPrefix(a, "--pwfile=") {
				got[j] = "--pwfile=*"
			}
			if strings.Contains(a, secret) {
				t.Errorf("password in argv of %s", c)
			}
		}
		for _, e := range c.Env {
			if strings.Contains(e, secret) {
				t.Errorf("password in env of %s", c)
			}
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("command %d:\n got %q\nwant %q", i, got, want[i])
		}
	}
	for path, content := range f.files {
		if content != secret+"\n|-rw-------" {
			t.Errorf("pwfile content/mode %q", content)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("pwfile %s left behind", path)
		}
	}
	rewindEnv := strings.Join(f.cmds[2].Env, " ")
	for _, e := range []string{"PGPASSFILE=/home/pg/pgpass", "PGOPTIONS=-c statement_timeout=0", "LC_ALL=C"} {
		if !strings.Contains(rewindEnv, e) {
			t.Errorf("pg_rewind env %q lacks %s", rewindEnv, e)
		}
	}
}

func TestBaseBackupFailureRemovesDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(data, "base"), 0o700); err != nil {
		t.Fatal(err)
	}
	f := &fakeRunner{err: &ExecError{Cmd: "pg_basebackup", ExitCode: 1, Stderr: "could not connect"}}
	err := Tools{Runner: f}.BaseBackup(context.Background(), data, "host=x", nil, nil)
	var ee *ExecError
	if err == nil || !errorsAs(err, &ee) || ee.ExitCode != 1 {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatal("partial data directory left behind")
	}
}

func TestFilterEnv(t *testing.T) {
	got := FilterEnv([]string{"PATH=/bin", "PATRONI_SUPERUSER_PASSWORD=x", "PGPASSWORD=y", "HOME=/h"})
	if !reflect.DeepEqual(got, []string{"PATH=/bin", "HOME=/h"}) {
		t.Fatalf("got %q", got)
	}
}

func TestExecRunnerError(t *testing.T) {
	r := ExecRunner{Log: discardLogger()}
	_, err := r.Run(context.Background(), Command{Path: "/bin/sh", Args: []string{"-c", "echo one >&2; echo two >&2; exit 3"}})
	var ee *ExecError
	if !errorsAs(err, &ee) || ee.ExitCode != 3 || ee.Stderr != "one\ntwo" {
		t.Fatalf("err = %#v", err)
	}
}

func TestExecRunnerTimeoutSendsSIGTERM(t *testing.T) {
	r := ExecRunner{Log: discardLogger()}
	_, err := r.Run(context.Background(), Command{Path: "/bin/sh", Args: []string{"-c", "trap 'echo got-term >&2; exit 7' TERM; while :; do sleep 0.05; done"}, Timeout: 300e6})
	var ee *ExecError
	if !errorsAs(err, &ee) || ee.ExitCode != 7 || !strings.Contains(ee.Stderr, "got-term") {
		t.Fatalf("err = %#v", err)
	}
}

func TestParseVersion(t *testing.T) {
	v, err := ParseVersion("postgres (PostgreSQL) 15.4 (Debian 15.4-1)\n")
	if err != nil || v != 15 {
		t.Fatalf("%d %v", v, err)
	}
}
