package delivery_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// Two failed deliveries of one endpoint with retries due a second apart: the second is
// retried when it is due, not at the next idle re-scan (30 s), although the claim of the
// first retry found nothing else due. Real clock: due times come from Retry-After.
func TestRetriesDueAtDifferentTimes(t *testing.T) {
	t.Parallel()
	for _, inFlight := range []int{1, 16} {
		t.Run(fmt.Sprint("max_in_flight=", inFlight), func(t *testing.T) {
			t.Parallel()
			s := apptest.Start(t, apptest.Options{})
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
				switch n {
				case 0:
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
				case 1:
					w.Header().Set("Retry-After", "2")
					w.WriteHeader(http.StatusTooManyRequests)
				default:
					w.WriteHeader(http.StatusOK)
				}
			})
			ep := createEndpoint(t, s, map[string]any{"url": rc.URL, "event_types": []string{chat.EventMessageSend}, "max_in_flight": inFlight})
			mkUser(t, s, "u", "human")
			mkRoom(t, s, "r", "u")
			send(t, s, "r", "u", "one")
			apptest.Eventually(t, 5*time.Second, "the first attempt", func() bool { return rc.count() == 1 })
			send(t, s, "r", "u", "two")
			start := time.Now()
			apptest.Eventually(t, 10*time.Second, "both retries", func() bool {
				return len(deliveries(t, s, ep.ID, chat.DeliverySucceeded)) == 2
			})
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("the second retry came %v after it was posted (due after 2 s)", took)
			}
		})
	}
}
