package delivery

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/chathooks/chathooks/internal/chat"
)

// Default retry schedules of each format. Delays are between attempts: the first follows the
// first attempt.
func standardDelays() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

func sendbirdDelays() []time.Duration { return []time.Duration{5 * time.Second, time.Minute} }

const (
	rbmFirstDelay = 5 * time.Second
	rbmMaxDelay   = 600 * time.Second
	rbmTTL        = 7 * 24 * time.Hour
	// MaxRetryAfter caps a receiver's Retry-After.
	MaxRetryAfter = time.Hour
	jitter        = 0.2
)

// policy is an endpoint's effective retry policy.
type policy struct {
	maxAttempts int           // total attempts; 0 = unbounded (then ttl bounds)
	maxInterval time.Duration // 0 = none
	ttl         time.Duration // from the delivery's creation; 0 = none
	format      string
}

func policyFor(e chat.Endpoint) policy {
	p := policy{format: e.Format}
	switch e.Format {
	case chat.FormatSendbird:
		p.maxAttempts = len(sendbirdDelays()) + 1
	case chat.FormatRBM:
		p.ttl = rbmTTL
	default:
		p.maxAttempts = len(standardDelays()) + 1
	}
	if e.Retry.MaxAttempts > 0 {
		p.maxAttempts = e.Retry.MaxAttempts
	}
	if e.Retry.MaxIntervalS > 0 {
		p.maxInterval = time.Duration(e.Retry.MaxIntervalS) * time.Second
	}
	if e.Retry.TTLS > 0 {
		p.ttl = time.Duration(e.Retry.TTLS) * time.Second
	}
	return p
}

// delay is the base wait after attempt number n (1-based), before jitter and caps.
func (p policy) delay(n int) time.Duration {
	switch p.format {
	case chat.FormatSendbird:
		ds := sendbirdDelays()
		return ds[min(n, len(ds))-1]
	case chat.FormatRBM:
		d := rbmFirstDelay
		for i := 1; i < n && d < rbmMaxDelay; i++ {
			d *= 2
		}
		return min(d, rbmMaxDelay)
	default:
		ds := standardDelays()
		return ds[min(n, len(ds))-1]
	}
}

// next decides what follows a failed attempt number n (1-based) made at now: the time of
// the next attempt, or dead. retryAfter > 0 (from a 429/503) replaces the schedule.
func (p policy) next(n int, created, now time.Time, retryAfter time.Duration, rnd *rand.Rand) (time.Time, bool) {
	if p.maxAttempts > 0 && n >= p.maxAttempts {
		return time.Time{}, true
	}
	d := p.delay(n)
	d = time.Duration(float64(d) * (1 - jitter + 2*jitter*rnd.Float64()))
	if p.maxInterval > 0 && d > p.maxInterval {
		d = p.maxInterval
	}
	if retryAfter > 0 {
		d = min(retryAfter, MaxRetryAfter)
	}
	at := now.Add(d)
	if p.ttl > 0 && at.After(created.Add(p.ttl)) {
		return time.Time{}, true
	}
	return at, false
}

// retryAfter parses a Retry-After header (seconds or an HTTP date) on 429 and 503.
func retryAfter(status int, h http.Header, now time.Time) time.Duration {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(s)*time.Second, MaxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}
