package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// commitSample is what commitStats reads from the nodes' metrics.
type commitSample struct {
	commits, requests, busy float64 // summed over the nodes
	window                  float64 // the longest commit window open on a node (seconds)
	posts, postSecs         float64 // Chime posts answered and the seconds the server spent on them
	slow                    float64 // write transactions longer than SlowWrite (summed over the nodes)
	// the SQLite writers' time in statements and their threads' CPU time in it (seconds)
	stmtWall, stmtCPU float64
	// delivery attempts made and their summed duration, request sent to answer read (seconds)
	attempts, attemptSecs float64
	slotSecs              float64 // the attempts' time in their endpoints' in-flight slots
	// PostgreSQL: batches begun with the cluster-wide batch lock first, and the seconds the
	// writers took to begin them (summed over the nodes)
	lockWaits, lockWaitSecs float64
	reruns                  float64 // write batches run again, for any reason
}

// SlowWrite is the bound past which a write transaction counts as slow in the timeline: a
// bucket bound of the servers' commit duration histogram.
const SlowWrite = 50 * time.Millisecond

// slowBucket is that bucket's series.
var slowBucket = fmt.Sprintf(`chathooks_store_commit_duration_seconds_bucket{le="%g"}`, SlowWrite.Seconds())

// chimeRoute is the route label of Chime posts in the request metrics.
const chimeRoute = `route="/incomingwebhooks/{id}"`

// commitStats reads, from each node's /metrics, how many write transactions it has
// committed, how many write requests they held (the group-commit histogram), the seconds
// its writers spent on them (and, SQLite, in statements, with their threads' CPU in it),
// the commit window its writer has open, the Chime posts it answered with the time it
// took over them, the delivery attempts it made with their summed duration and their time
// in the endpoints' in-flight slots, and the batches it began by taking the batch lock
// first with the time it took to begin them.
func commitStats(ctx context.Context, client *http.Client, urls []string) commitSample {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var c commitSample
	// The metrics summed over the nodes and over their label values (a series an
	// endpoint, say). slow starts as every transaction and loses those within SlowWrite's
	// bucket (below).
	sums := map[string]*float64{
		"chathooks_store_commit_batch_size_count":            &c.commits,
		"chathooks_store_commit_batch_size_sum":              &c.requests,
		"chathooks_store_commit_duration_seconds_sum":        &c.busy,
		"chathooks_store_commit_duration_seconds_count":      &c.slow,
		"chathooks_store_writer_statement_seconds_total":     &c.stmtWall,
		"chathooks_store_writer_statement_cpu_seconds_total": &c.stmtCPU,
		"chathooks_delivery_attempt_duration_seconds_count":  &c.attempts,
		"chathooks_delivery_attempt_duration_seconds_sum":    &c.attemptSecs,
		"chathooks_store_batch_lock_wait_seconds_count":      &c.lockWaits,
		"chathooks_store_batch_lock_wait_seconds_sum":        &c.lockWaitSecs,
		"chathooks_delivery_slot_seconds_total":              &c.slotSecs,
		"chathooks_store_batch_reruns_total":                 &c.reruns,
	}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, "GET", u+"/metrics", nil)
		if err != nil {
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			name, val, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue
			}
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				continue
			}
			if metric, _, _ := strings.Cut(name, "{"); sums[metric] != nil {
				*sums[metric] += f
			}
			switch name {
			case slowBucket:
				c.slow -= f
			case "chathooks_store_commit_window_seconds":
				c.window = max(c.window, f)
			}
			if strings.Contains(name, chimeRoute) {
				switch {
				case strings.HasPrefix(name, "chathooks_http_request_duration_seconds_sum{"):
					c.postSecs += f
				case strings.HasPrefix(name, "chathooks_http_request_duration_seconds_count{"):
					c.posts += f
				}
			}
		}
		resp.Body.Close()
	}
	return c
}

// WriterFigures are the servers' writers over a measured window, summed over the nodes:
// write transactions committed a second with the write requests in each, seconds of
// writing a second, and (SQLite on Linux; 0 when not measured) the writer's seconds a
// second in statements, its commits excluded, with the share of them its thread waited
// for a CPU.
type WriterFigures struct {
	CommitsPerSec       float64 `json:"commits_per_sec"`
	RequestsPerCommit   float64 `json:"write_requests_per_commit"`
	WriterBusy          float64 `json:"writer_busy"`
	WriterStatementSecs float64 `json:"writer_statement_secs,omitempty"`
	WriterCPUWait       float64 `json:"writer_cpu_wait_share,omitempty"`
}

// writerFigures derives them from the commit samples at the start and end of a window of
// elapsed seconds.
func writerFigures(c0, c1 commitSample, elapsed float64) WriterFigures {
	var f WriterFigures
	if elapsed <= 0 {
		return f
	}
	f.CommitsPerSec = (c1.commits - c0.commits) / elapsed
	f.WriterBusy = (c1.busy - c0.busy) / elapsed
	if c1.commits > c0.commits {
		f.RequestsPerCommit = (c1.requests - c0.requests) / (c1.commits - c0.commits)
	}
	if wall := c1.stmtWall - c0.stmtWall; wall > 0 {
		f.WriterStatementSecs = wall / elapsed
		f.WriterCPUWait = max(0, 1-(c1.stmtCPU-c0.stmtCPU)/wall)
	}
	return f
}
