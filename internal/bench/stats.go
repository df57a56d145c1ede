package bench

import (
	"sort"
	"sync"
	"time"
)

// Latencies collects durations from many goroutines.
type Latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	peak time.Duration // the longest since TakePeak last ran
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.peak = max(l.peak, d)
	l.mu.Unlock()
}

// TakePeak returns the longest duration recorded since it last ran, in milliseconds (0:
// none), and starts over.
func (l *Latencies) TakePeak() float64 {
	l.mu.Lock()
	p := l.peak
	l.peak = 0
	l.mu.Unlock()
	return float64(p.Microseconds()) / 1000
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary sorts what was recorded and returns its percentiles.
func (l *Latencies) Summary() Summary {
	l.mu.Lock()
	d := append([]time.Duration(nil), l.d...)
	l.mu.Unlock()
	if len(d) == 0 {
		return Summary{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	at := func(p float64) float64 { return ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
	return Summary{Count: len(d), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(d[len(d)-1])}
}
