package main

import (
	"encoding/json"
	"math"
	"sync"

	"github.com/warden-ha/warden/bench"
)

// scenario holds one measurement's raw samples per tool.
type scenario struct {
	Key     string               `json:"key"`
	Title   string               `json:"title"`
	Unit    string               `json:"unit"`
	Samples map[string][]float64 `json:"samples"`
	// Notes per tool: what happened beyond the number (demotion, failover, errors).
	Notes map[string][]string `json:"notes,omitempty"`
	// Unsupported per tool: why there is no number ("not supported yet").
	Unsupported map[string]string   `json:"unsupported,omitempty"`
	Settings    map[string]settings `json:"settings,omitempty"`
}

type traceRec struct {
	Scenario string         `json:"scenario"`
	Tool     string         `json:"tool"`
	Rep      int            `json:"rep"`
	Settings settings       `json:"settings"`
	Marks    []bench.Mark   `json:"marks"`
	Samples  []bench.Sample `json:"samples"`
}

type results struct {
	mu        sync.Mutex
	Started   string               `json:"started"`
	Finished  string               `json:"finished"`
	Machine   map[string]string    `json:"machine"`
	Versions  map[string]string    `json:"versions"`
	Config    map[string]any       `json:"config"`
	Order     []string             `json:"order"`
	Scenarios map[string]*scenario `json:"scenarios"`
	Traces    []traceRec           `json:"traces"`
	Events    []string             `json:"events"`
}

func newResults() *results {
	return &results{Scenarios: map[string]*scenario{}, Machine: map[string]string{}, Versions: map[string]string{}, Config: map[string]any{}}
}

func (r *results) sc(key, title, unit string) *scenario {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.Scenarios[key]
	if !ok {
		s = &scenario{Key: key, Title: title, Unit: unit, Samples: map[string][]float64{}, Notes: map[string][]string{},
			Unsupported: map[string]string{}, Settings: map[string]settings{}}
		r.Scenarios[key] = s
		r.Order = append(r.Order, key)
	}
	return s
}

func (r *results) add(key, title, unit, tool string, set settings, v float64) {
	s := r.sc(key, title, unit)
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Samples[tool] = append(s.Samples[tool], v)
	s.Settings[tool] = set
}

func (r *results) note(key, title, unit, tool, msg string) {
	s := r.sc(key, title, unit)
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Notes[tool] = append(s.Notes[tool], msg)
}

func (r *results) unsupported(key, title, unit, tool, why string) {
	s := r.sc(key, title, unit)
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Unsupported[tool] = why
}

func (r *results) trace(t traceRec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Traces = append(r.Traces, t)
}

func (r *results) event(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Events = append(r.Events, s)
}

// MarshalJSON writes a sample that measured nothing (NaN) as null.
func (s *scenario) MarshalJSON() ([]byte, error) {
	type plain scenario
	out := struct {
		*plain
		Samples map[string][]*float64 `json:"samples"`
	}{plain: (*plain)(s), Samples: map[string][]*float64{}}
	for t, xs := range s.Samples {
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				out.Samples[t] = append(out.Samples[t], nil)
				continue
			}
			v := x
			out.Samples[t] = append(out.Samples[t], &v)
		}
	}
	return json.Marshal(out)
}
