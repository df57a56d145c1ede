package bench

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
)

// commitStats reads, from each node's /metrics, how many write transactions it has
// committed, how many write requests they held (the group-commit histogram) and the
// seconds its writers spent on them.
func commitStats(ctx context.Context, client *http.Client, urls []string) (commits, requests, busy float64) {
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
			switch name {
			case "chathooks_store_commit_batch_size_count":
				commits += f
			case "chathooks_store_commit_batch_size_sum":
				requests += f
			case "chathooks_store_commit_duration_seconds_sum":
				busy += f
			}
		}
		resp.Body.Close()
	}
	return commits, requests, busy
}
