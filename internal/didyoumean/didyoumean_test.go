package didyoumean

import "testing"

func TestNearest(t *testing.T) {
	names := []string{"max_replication_slots", "max_wal_senders", "summarize_wal", "wal_summary_keep_time"}
	for in, want := range map[string]string{
		"max_relication_slots": "max_replication_slots",
		"summarise_wal":        "summarize_wal",
		"max_wal_sender":       "max_wal_senders",
	} {
		if got := Nearest(in, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", in, got, want)
		}
		if !CloseEnough(in, want) {
			t.Errorf("CloseEnough(%q, %q) = false", in, want)
		}
	}
	if Nearest("x", nil) != "" || CloseEnough("x", "") {
		t.Error("no candidates must give no hint")
	}
	if CloseEnough("port", "work_mem") {
		t.Error("unrelated names must not be hinted")
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
