package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ha/warden/internal/ha"
)

// decisionMetrics count what the HA loop decided and did.
type decisionMetrics struct {
	cycles  prometheus.Counter
	actions *prometheus.CounterVec
}

func newDecisionMetrics(reg prometheus.Registerer) *decisionMetrics {
	m := &decisionMetrics{
		cycles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "warden_ha_cycles_total", Help: "HA loop cycles run.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_ha_actions_total", Help: "Plan steps executed by the HA loop, by action and result.",
		}, []string{"action", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.cycles, m.actions)
	}
	return m
}

// record counts one cycle's plan: the steps before failed succeeded, the failed one failed.
func (m *decisionMetrics) record(plan ha.Plan, failed int, err error) {
	m.cycles.Inc()
	for i, act := range plan {
		switch {
		case err != nil && i == failed:
			m.actions.WithLabelValues(string(act.Kind), "failed").Inc()
			return
		case err != nil && i > failed:
			return
		default:
			m.actions.WithLabelValues(string(act.Kind), "ok").Inc()
		}
	}
}
