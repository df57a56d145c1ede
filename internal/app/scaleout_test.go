package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chathooks/chathooks/internal/app"
	"github.com/chathooks/chathooks/internal/apptest"
	"github.com/chathooks/chathooks/internal/store/pgtest"
)

// Two nodes on one PostgreSQL database: a write on node B is heard by node A (its commit
// notification), whose store then begins its batches before gathering them.
func TestNodeHearsOtherNodesWrites(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	node := func() *apptest.Server {
		return apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.DatabaseURL = url }})
	}
	a, b := node(), node()
	st, ok := a.Store.(interface{ OthersWriting() bool })
	if !ok {
		t.Fatalf("store %T does not tell whether other nodes write", a.Store)
	}
	// Every round makes a new room on B (a commit with a notification) until A has heard
	// one, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; !st.OthersWriting(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("node A never heard of node B's commits")
		}
		b.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]any{"id": "r" + time.Now().Format("150405.000000"), "name": "R"})
	}
}
