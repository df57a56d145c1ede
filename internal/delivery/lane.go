package delivery

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/signing"
)

// endpoint is an endpoint ready to send: its secrets opened, its policy computed.
type endpoint struct {
	chat.Endpoint
	secrets []string // live secrets in clear, newest first
	keys    [][]byte // standard format: decoded keys of secrets
	policy  policy
}

func openEndpoint(e chat.Endpoint, box chat.SecretBox, now time.Time) (*endpoint, error) {
	ep := &endpoint{Endpoint: e, policy: policyFor(e)}
	cur, err := box.Open(e.SecretSealed)
	if err != nil {
		return nil, fmt.Errorf("delivery: endpoint %s: %w", e.ID, err)
	}
	ep.secrets = []string{cur}
	if e.OldSealed != "" && e.OldExpiresAt.After(now) {
		old, err := box.Open(e.OldSealed)
		if err != nil {
			return nil, fmt.Errorf("delivery: endpoint %s: %w", e.ID, err)
		}
		ep.secrets = append(ep.secrets, old)
	}
	if e.Format == chat.FormatStandard {
		for _, s := range ep.secrets {
			k, err := signing.DecodeStandardSecret(s)
			if err != nil {
				return nil, fmt.Errorf("delivery: endpoint %s: %w", e.ID, err)
			}
			ep.keys = append(ep.keys, k)
		}
	}
	return ep, nil
}

// Breaker settings.
const (
	BreakerThreshold   = 5                // consecutive failures that open the breaker
	BreakerCooldown    = 10 * time.Second // first open period; doubles while probes fail
	BreakerMaxCooldown = 5 * time.Minute
)

// lane is one endpoint's in-process state: what is in flight per quota, whether more work
// may be waiting, the circuit breaker and the rate limiter. Guarded by Engine.mu.
type lane struct {
	ep       *endpoint
	inFirst  int       // first attempts in flight
	inRetry  int       // retries in flight
	dirty    bool      // first attempts may be waiting
	retryDue time.Time // earliest known due retry (zero: none known)
	// circuit breaker
	fails     int
	openUntil time.Time
	cooldown  time.Duration
	limiter   *rate.Limiter
	// expiresSecret is when the previous secret stops signing (the lane must be reopened).
	expiresSecret time.Time
}

func newLane(ep *endpoint) *lane {
	l := &lane{ep: ep, dirty: true}
	l.setEndpoint(ep)
	return l
}

func (l *lane) setEndpoint(ep *endpoint) {
	old := l.ep
	l.ep = ep
	if ep.RateLimit > 0 {
		if l.limiter == nil || old.RateLimit != ep.RateLimit {
			l.limiter = rate.NewLimiter(rate.Limit(ep.RateLimit), max(1, int(math.Ceil(ep.RateLimit))))
		}
	} else {
		l.limiter = nil
	}
	l.expiresSecret = time.Time{}
	if len(ep.secrets) > 1 {
		l.expiresSecret = ep.OldExpiresAt
	}
}

func (l *lane) inFlight() int { return l.inFirst + l.inRetry }

// retryQuota is the most retries in flight at once: at most half the slots (at least one),
// so first attempts always keep the other half.
func (l *lane) retryQuota() int { return max(1, l.ep.InFlight()/2) }

// capacity returns how many first attempts and retries to claim now, and when the lane
// next needs a look if it is held back (breaker open, rate limit).
func (l *lane) capacity(now time.Time) (first, retry int, wakeAt time.Time) {
	if l.ep.Status != chat.EndpointActive {
		return 0, 0, time.Time{}
	}
	limit := l.ep.InFlight()
	if !l.openUntil.IsZero() {
		if now.Before(l.openUntil) {
			return 0, 0, l.openUntil
		}
		limit = 1 // half-open: one probe at a time
	}
	free := limit - l.inFlight()
	if free <= 0 {
		return 0, 0, time.Time{}
	}
	if l.limiter != nil {
		tokens := int(l.limiter.TokensAt(now))
		if tokens <= 0 {
			return 0, 0, now.Add(time.Duration(float64(time.Second) / float64(l.limiter.Limit())))
		}
		free = min(free, tokens)
	}
	retryDue := !l.retryDue.IsZero() && !now.Before(l.retryDue)
	if retryDue {
		retry = min(l.retryQuota()-l.inRetry, free)
		if l.dirty {
			retry = min(retry, (free+1)/2)
		}
		retry = max(retry, 0)
	}
	if l.dirty {
		first = free - retry
	}
	return first, retry, time.Time{}
}

// took accounts for claimed deliveries.
func (l *lane) took(first, retry int, now time.Time) {
	l.inFirst += first
	l.inRetry += retry
	if l.limiter != nil && first+retry > 0 {
		l.limiter.AllowN(now, first+retry)
	}
}

// done accounts for a finished attempt and drives the breaker.
func (l *lane) done(wasRetry, ok bool, now time.Time) {
	if wasRetry {
		l.inRetry--
	} else {
		l.inFirst--
	}
	if ok {
		l.fails, l.openUntil, l.cooldown = 0, time.Time{}, 0
		return
	}
	l.fails++
	if !l.openUntil.IsZero() || l.fails >= BreakerThreshold {
		// Open, or a half-open probe failed: (re)open with a longer cool-down.
		if l.cooldown == 0 {
			l.cooldown = BreakerCooldown
		} else if !l.openUntil.IsZero() && !now.Before(l.openUntil) {
			l.cooldown = min(2*l.cooldown, BreakerMaxCooldown)
		}
		l.openUntil = now.Add(l.cooldown)
	}
}
