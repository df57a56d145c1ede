// Package metrics holds the Prometheus collectors of one server (its own registry: no
// global state), served at /metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of collectors.
type Metrics struct {
	Registry        *prometheus.Registry
	Requests        *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	IncomingPosts   *prometheus.CounterVec
	CommitBatch     prometheus.Histogram
	CommitDuration  prometheus.Histogram
	// CommitWindow is how long the writer gathers after a batch's first request (0 unless
	// it is short of CPU).
	CommitWindow prometheus.Gauge
	// WriterStatementSeconds and WriterStatementCPUSeconds are the time the SQLite writer
	// spent in statements (commits excluded) and the CPU time its thread had in it: the
	// difference is time it waited for a CPU.
	WriterStatementSeconds, WriterStatementCPUSeconds prometheus.Counter
	// BatchLockWait is how long writers took to begin batches by taking the cluster-wide
	// batch lock first (PostgreSQL, as they do while other nodes write).
	BatchLockWait prometheus.Histogram
	// BatchReruns counts write batches run again, by reason.
	BatchReruns *prometheus.CounterVec
	// Deliveries counts delivery attempts by endpoint and outcome (succeeded, failed,
	// dead, gone).
	Deliveries      *prometheus.CounterVec
	DeliveryLatency prometheus.Histogram
	// DeliverySlotSeconds is, by endpoint, the time delivery attempts held its in-flight
	// slots: from a slot's taking to the attempt's end, so the engine's own work before the
	// request counts as well as the request.
	DeliverySlotSeconds *prometheus.CounterVec
	// DeliveryRescanFound counts deliveries that only the periodic safety re-scan found:
	// every other path hands work over at once, so anything here is a lost wake-up.
	DeliveryRescanFound prometheus.Counter
	// DeliveryPanics counts panics recovered in delivery goroutines (each a bug).
	DeliveryPanics prometheus.Counter
}

// New registers every collector on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chathooks_http_requests_total", Help: "HTTP requests by route pattern (without method; \"unmatched\" when no route serves the path), method and status code.",
		}, []string{"route", "method", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chathooks_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		IncomingPosts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chathooks_incoming_posts_total", Help: "Incoming-webhook posts by dialect and HTTP status code.",
		}, []string{"dialect", "code"}),
		CommitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chathooks_store_commit_batch_size", Help: "Write requests committed together in one transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chathooks_store_commit_duration_seconds", Help: "Time a writer spent on one write transaction, from its first statement to the end of its commit; the sum's rate is how busy the writers are.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		CommitWindow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chathooks_store_commit_window_seconds", Help: "How long the writer gathers requests for one commit after the first: opened while the writer waits for a CPU (fewer commits, less CPU each), 0 otherwise.",
		}),
		WriterStatementSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chathooks_store_writer_statement_seconds_total", Help: "Time the SQLite writer spent running statements, its commits excluded.",
		}),
		WriterStatementCPUSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chathooks_store_writer_statement_cpu_seconds_total", Help: "CPU time the SQLite writer's thread had while running statements; the rest of chathooks_store_writer_statement_seconds_total it waited for a CPU.",
		}),
		BatchLockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chathooks_store_batch_lock_wait_seconds", Help: "PostgreSQL: time a writer took to begin a batch by taking the cluster-wide batch lock first, as it does while other nodes write (BEGIN and the lock, round trip included); the sum's rate is the writers' time spent waiting on other nodes' batches.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		BatchReruns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chathooks_store_batch_reruns_total", Help: "Write batches run again, by reason: not_begun (PostgreSQL: a batch sent whole was refused before any of it ran, its caches stale because another node or program changed rooms, members, endpoints or threads, or its BEGIN failed), key_not_new (a thread or idempotency key taken to be new existed), key_unchecked (a request relied on a key taken to be new without inserting it), request_failed (a request failed after writing: the batch runs without it), unmerge (a statement merged from several requests' failed), retryable (a deadlock, serialization failure or lost connection). Each rerun repeats the batch's work.",
		}, []string{"reason"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chathooks_delivery_attempts_total", Help: "Delivery attempts by endpoint and outcome (succeeded, failed, dead, gone).",
		}, []string{"endpoint_id", "outcome"}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chathooks_delivery_attempt_duration_seconds", Help: "Delivery attempt latency (request sent to response read).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		DeliverySlotSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chathooks_delivery_slot_seconds_total", Help: "Time delivery attempts held their endpoint's in-flight slots, by endpoint, from the slot's taking to the attempt's end; its rate over the endpoint's max_in_flight is how full its slots were on this node.",
		}, []string{"endpoint_id"}),
		DeliveryRescanFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chathooks_delivery_rescan_found_total", Help: "Deliveries that only the periodic safety re-scan found (a missed wake-up; should stay 0).",
		}),
		DeliveryPanics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chathooks_delivery_panics_total", Help: "Panics recovered in delivery goroutines (each gives its lease back).",
		}),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.IncomingPosts, m.CommitBatch, m.CommitDuration, m.CommitWindow, m.WriterStatementSeconds, m.WriterStatementCPUSeconds, m.BatchLockWait, m.BatchReruns, m.Deliveries, m.DeliveryLatency, m.DeliverySlotSeconds, m.DeliveryRescanFound, m.DeliveryPanics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
