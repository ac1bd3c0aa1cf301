package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestScenarioJSONWritesNaNAsNull(t *testing.T) {
	r := newResults()
	r.add("k", "title", "s", "warden", settings{Name: "defaults"}, 1.5)
	r.add("k", "title", "s", "warden", settings{Name: "defaults"}, math.NaN())
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"samples":{"warden":[1.5,null]}`) {
		t.Errorf("samples not encoded as expected: %s", b)
	}
}
