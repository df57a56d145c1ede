package delivery

import (
	"github.com/prometheus/client_golang/prometheus"
)

// laneCollector reports each lane's queue depth, oldest waiting delivery and breaker state
// at scrape time (one series per endpoint id: bounded by the number of endpoints).
type laneCollector struct {
	e                   *Engine
	depth, age, breaker *prometheus.Desc
}

func newLaneCollector(e *Engine) *laneCollector {
	l := []string{"endpoint_id"}
	return &laneCollector{
		e: e,
		depth: prometheus.NewDesc("chathooks_delivery_queue_depth",
			"Deliveries this node holds for the endpoint and has not started (first attempts and retries).", l, nil),
		age: prometheus.NewDesc("chathooks_delivery_oldest_pending_seconds",
			"Age of the oldest delivery this node holds for the endpoint and has not started.", l, nil),
		breaker: prometheus.NewDesc("chathooks_delivery_breaker_state",
			"The endpoint's circuit breaker on this node: 0 closed, 1 half-open, 2 open.", l, nil),
	}
}

func (c *laneCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
	ch <- c.breaker
}

func (c *laneCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	now := e.o.Clock.Now()
	type row struct {
		id             string
		depth, breaker int
		age            float64
	}
	e.mu.Lock()
	rows := make([]row, 0, len(e.lanes))
	for id, l := range e.lanes {
		r := row{id: id, depth: l.queued() + len(l.retries), breaker: l.breakerState(now)}
		if t := l.oldest(); !t.IsZero() {
			r.age = max(0, now.Sub(t).Seconds())
		}
		rows = append(rows, r)
	}
	e.mu.Unlock()
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(r.depth), r.id)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, r.age, r.id)
		ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, float64(r.breaker), r.id)
	}
}
