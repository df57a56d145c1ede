package chaos

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/chat"
)

// TestClockJumps: the server's clock (injected) jumps an hour back, then two hours
// forward. Posts keep being accepted and listed in commit order (ids are time-ordered, the
// order is not), the room rate limit is not wedged by the backward jump (it waits one
// refill, not an hour), new deliveries go out at once, and a retry scheduled before the
// backward jump is sent once its due time is reached again.
func TestClockJumps(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{FakeClock: true, Config: func(c *app.Config) { c.RoomRateLimit, c.RoomRateBurst = 1, 1 }})
	var mu sync.Mutex
	got := map[string]int{} // message text -> deliveries
	calls := 0
	recv := misbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusInternalServerError) // the first attempt fails: a retry is scheduled
			return
		}
		for _, txt := range []string{"before", "after-back", "after-forward"} {
			if bytes.Contains(b, []byte(`"`+txt+`"`)) {
				got[txt]++
			}
		}
	})
	s.Must(201, "POST", "/api/v1/endpoints", map[string]any{"url": recv.URL, "event_types": []string{chat.EventMessageSend}})
	h := newRoomHook(t, s, "r")
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(text string) int {
		a, _ := postOnce(t, client, s.URL, h, 0, text)
		return a.status
	}
	delivered := func(text string) func() bool {
		return func() bool {
			s.DeliveryEngine().Poke()
			mu.Lock()
			defer mu.Unlock()
			return got[text] > 0
		}
	}
	if st := post("before"); st != http.StatusOK {
		t.Fatalf("post: %d", st)
	}
	apptest.Eventually(t, 10*time.Second, "the first attempt", func() bool { mu.Lock(); defer mu.Unlock(); return calls >= 1 })

	s.Clock.Advance(-time.Hour)
	if st := post("after-back"); st == http.StatusTooManyRequests {
		// The bucket was empty at the jump: it refills one second of clock later, not an hour.
		s.Clock.Advance(time.Second)
		if st := post("after-back"); st != http.StatusOK {
			t.Fatalf("post a second after the backward jump: %d", st)
		}
	} else if st != http.StatusOK {
		t.Fatalf("post after the backward jump: %d", st)
	}
	var l struct{ Items []chat.Message }
	s.Must(200, "GET", "/api/v1/rooms/r/messages", nil).JSON(t, &l)
	if len(l.Items) != 2 || l.Items[0].Text != "before" || l.Items[1].Text != "after-back" {
		t.Fatalf("messages after the backward jump are not in commit order: %+v", l.Items)
	}
	var after struct{ Items []chat.Message }
	s.Must(200, "GET", "/api/v1/rooms/r/messages?after="+l.Items[0].ID, nil).JSON(t, &after)
	if len(after.Items) != 1 || after.Items[0].Text != "after-back" {
		t.Fatalf("after=%s does not return the message posted after the backward jump: %+v", l.Items[0].ID, after.Items)
	}
	apptest.Eventually(t, 10*time.Second, "delivery of a message posted after the backward jump", delivered("after-back"))

	s.Clock.Advance(2 * time.Hour)
	if st := post("after-forward"); st != http.StatusOK {
		t.Fatalf("post after the forward jump: %d", st)
	}
	apptest.Eventually(t, 10*time.Second, "delivery after the forward jump", delivered("after-forward"))
	apptest.Eventually(t, 10*time.Second, "the retry scheduled before the backward jump", delivered("before"))
	mu.Lock()
	defer mu.Unlock()
	t.Logf("clock -1h then +2h: %d receiver calls; deliveries %v", calls, fmt.Sprint(got))
}
