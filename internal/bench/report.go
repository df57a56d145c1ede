package bench

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// WriteTable prints the result as a table.
func WriteTable(w io.Writer, r Result) {
	fmt.Fprintf(w, "\nchathooks bench — %s\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %d CPUs (%s), %d GiB, %s %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemoryGiB, r.Machine.GoVersion, r.Machine.OS)
	fmt.Fprintf(w, "load:    %s\n\n", r.Description)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "%-39s %12.0f req/s   p50 %6.2f ms  p99 %6.2f ms\n", "bare net/http handler (baseline)", b.RequestsPerSec, b.Latency.P50, b.Latency.P99)
		if b.CPUCores > 0 {
			fmt.Fprintf(w, "  %-37s %.2f cores (%.0f µs a request)\n", "CPU used (handler + load)", b.CPUCores, b.CPUPerRequestUS())
		}
	}
	if rows := r.Rows; rows != nil {
		fmt.Fprintf(w, "%-39s %12.0f req/s   p50 %6.2f ms  p99 %6.2f ms\n", "the same, writing a post's rows (store)", rows.RequestsPerSec, rows.Latency.P50, rows.Latency.P99)
		if rows.CPUCores > 0 {
			fmt.Fprintf(w, "  %-37s %.2f cores (%.0f µs a request)\n", "CPU used (handler + store + load)", rows.CPUCores, rows.CPUPerRequestUS())
		}
		if b := r.Baseline; b != nil && b.RequestsPerSec > 0 {
			fmt.Fprintf(w, "  %-37s %11.1f %%\n", "  share of bare net/http", 100*rows.RequestsPerSec/b.RequestsPerSec)
		}
		rows.write(w, "")
		if rows.DiskWriteKBPerRow > 0 {
			fmt.Fprintf(w, "  %-37s %.1f KB a request\n", "disk writes (this process)", rows.DiskWriteKBPerRow)
		}
	}
	phase := func(name string, p PhaseResult) {
		fmt.Fprintf(w, "%s (%s)\n", name, p.Storage)
		if p.Timeline != nil {
			fmt.Fprintf(w, "  %-8s %8s %9s %10s %10s %10s %10s %10s %7s %6s %6s %6s\n", "phase", "t (s)", "offered/s", "accepted/s", "deliv./s", "backlog", "post max", "deliv. max", "slow wr", "cores", "others", "steal")
			var prev Second
			for _, s := range p.Timeline {
				fmt.Fprintf(w, "  %s\n", timelineRow(prev, s, r.Machine.CPUs))
				prev = s
			}
		}
		latFrom := ""
		if r.Config.Rate > 0 {
			latFrom = " from due time"
			fmt.Fprintf(w, "  %-37s %12.0f /s      (%d due in %s)\n", "offered posts (open loop)", float64(p.Offered)/r.Config.Duration.Seconds(), p.Offered, r.Config.Duration)
		}
		fmt.Fprintf(w, "  %-37s %12.0f /s      (%d in %s)\n", "accepted posts", p.PostsPerSec, p.Accepted, r.Config.Duration)
		if r.Baseline != nil && r.Baseline.RequestsPerSec > 0 {
			fmt.Fprintf(w, "  %-37s %11.1f %%\n", "  share of bare net/http", 100*p.PostsPerSec/r.Baseline.RequestsPerSec)
		}
		if r.Rows != nil && r.Rows.RequestsPerSec > 0 {
			fmt.Fprintf(w, "  %-37s %11.1f %%\n", "  share of the rows alone", 100*p.PostsPerSec/r.Rows.RequestsPerSec)
		}
		if p.SendLag != nil {
			fmt.Fprintf(w, "  %-37s p50 %6.2f  p90 %6.2f  p99 %6.2f  max %7.2f ms\n", "generator lag (sent − due)", p.SendLag.P50, p.SendLag.P90, p.SendLag.P99, p.SendLag.Max)
		}
		fmt.Fprintf(w, "  %-37s p50 %6.2f  p90 %6.2f  p99 %6.2f  max %7.2f ms\n", "post latency"+latFrom, p.PostLatency.P50, p.PostLatency.P90, p.PostLatency.P99, p.PostLatency.Max)
		if p.ServerPostMS > 0 {
			fmt.Fprintf(w, "  %-37s mean %5.2f ms\n", "  of it in the server's handler", p.ServerPostMS)
		}
		fmt.Fprintf(w, "  %-37s %12.0f /s\n", "deliveries (healthy endpoints)", p.DeliveriesPerSec)
		if p.DeliveryAttemptMS > 0 {
			bound := ""
			if p.InFlightBoundPerSec > 0 {
				each := ""
				if r.Config.Nodes > 1 {
					each = " from each node"
				}
				bound = fmt.Sprintf("; %d at once an endpoint%s allow about %.0f/s; slots busy %.0f %%", p.MaxInFlight, each, p.InFlightBoundPerSec, p.SlotsBusy*100)
			}
			fmt.Fprintf(w, "  %-37s mean %5.2f ms%s\n", "  attempts, sent to answer read", p.DeliveryAttemptMS, bound)
		}
		fmt.Fprintf(w, "  %-37s p50 %6.2f  p90 %6.2f  p99 %6.2f  max %7.2f ms\n", "post→receiver latency"+latFrom, p.DeliveryLatency.P50, p.DeliveryLatency.P90, p.DeliveryLatency.P99, p.DeliveryLatency.Max)
		fmt.Fprintf(w, "  %-37s %d of %d (drained in %.1fs), %d duplicates\n", "delivered after drain", p.Delivered, p.ExpectedDeliveries, p.DrainSeconds, p.Duplicates)
		var errs []string
		for k, v := range p.Errors {
			errs = append(errs, fmt.Sprintf("%s×%d", k, v))
		}
		sort.Strings(errs)
		if len(errs) == 0 {
			errs = []string{"none"}
		}
		fmt.Fprintf(w, "  %-37s %s\n", "errors by status", strings.Join(errs, " "))
		fmt.Fprintf(w, "  %-37s %.0f MiB\n", "peak RSS (server + load)", p.RSSMiB)
		perPost := ""
		if us := p.CPUPerPostUS(); us > 0 {
			perPost = fmt.Sprintf(" (%.0f µs a post", us)
			if p.DeliveriesPerSec > 0 {
				perPost += ", with its deliveries"
			}
			perPost += ")"
		}
		fmt.Fprintf(w, "  %-37s %.2f cores%s\n", "CPU used (server + load)", p.CPUCores, perPost)
		if p.MachineBusy+p.MachineSteal > 0 {
			fmt.Fprintf(w, "  %-37s %.0f %% busy, %.1f %% stolen by the hypervisor\n", "machine CPU time (all processes)", p.MachineBusy*100, p.MachineSteal*100)
			db := ""
			if p.Storage == "postgres" {
				db = "; PostgreSQL's count here when it runs on this machine"
				if us := p.OtherCPUPerPostUS(); us > 0 {
					db += fmt.Sprintf(", %.0f µs a post", us)
				}
			}
			fmt.Fprintf(w, "  %-37s %.2f cores (at most %.2f in one second%s)\n", "  of it other processes", p.OtherCores, p.OtherCoresPeak, db)
		}
		if i := worstSecond(p.Timeline); i > 0 {
			s, use := p.Timeline[i], ""
			if self, others, ok := cores(p.Timeline[i-1], s, r.Machine.CPUs); ok {
				use = fmt.Sprintf("; other processes %.2f cores, this one %.2f", others, self)
			}
			fmt.Fprintf(w, "  %-37s t %.1f s: posts up to %.0f ms, deliveries up to %.0f ms%s\n", "slowest second of the run", s.T, s.PostMaxMS, s.DeliveryMaxMS, use)
		}
		if p.DiskWriteMBps > 0 {
			fmt.Fprintf(w, "  %-37s %.1f MB/s (%.1f KB a post)\n", "disk writes (this process)", p.DiskWriteMBps, p.DiskWriteKBPerPost)
		}
		window := ""
		if p.CommitWindowMS > 0 {
			window = fmt.Sprintf("; commit window %.1f ms at the end of the load", p.CommitWindowMS)
		}
		p.WriterFigures.write(w, ", summed over the writers"+window)
		if p.LockBegunPerSec > 0 {
			fmt.Fprintf(w, "  %-37s %12.0f /s      (begun with the batch lock first; %.2f ms each to begin, %.2f s/s summed over the writers)\n", "  batches waiting their turn", p.LockBegunPerSec, p.LockWaitMS, p.LockWaitSecs)
		}
		if p.RerunsPerSec > 0 {
			fmt.Fprintf(w, "  %-37s %12.1f /s      (each repeats its batch's work; chathooks_store_batch_reruns_total says why)\n", "  batches run again", p.RerunsPerSec)
		}
		if p.Verdict.Text != "" {
			fmt.Fprintf(w, "  %s\n", p.Verdict.Text)
		}
	}
	if r.Healthy != nil {
		phase("all endpoints healthy, before the run", *r.Healthy)
	}
	phase("run", r.Run)
	if r.HealthyAfter != nil {
		phase("all endpoints healthy, after the run", *r.HealthyAfter)
	}
	if r.IsolationX > 0 {
		fmt.Fprintf(w, "isolation: healthy endpoints' p99 with failures / without (mean of the runs before and after) = %.2f×\n", r.IsolationX)
		fmt.Fprintf(w, "  the same for the posts' own p99 (included in a delivery's) = %.2f×\n", r.PostIsolationX)
		if len(r.IsolationOverloaded) > 0 {
			fmt.Fprintf(w, "  NOT A MEASURE OF ISOLATION: deliveries fell behind in %s:\n"+
				"  each p99 then measures a growing backlog, not the healthy endpoints' wait;\n"+
				"  lower the load (--rate, --rooms) until every run keeps up\n", strings.Join(r.IsolationOverloaded, ", "))
		}
	}
}

// timelineRow is one timeline sample as a table row: rates over the time since the
// previous sample, or, when that is a sliver of a second (noise as a rate), the counts.
// Then the longest latencies (ms) seen since the previous sample, the write transactions
// that took longer than SlowWrite meanwhile, the cores the process used, the cores other
// processes used (of the machine's cpus), and the share of the machine's CPU time its
// hypervisor took.
func timelineRow(prev, s Second, cpus int) string {
	peak := func(ms float64) string {
		if ms == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f ms", ms)
	}
	dt := s.T - prev.T
	if dt < 0.5 {
		return fmt.Sprintf("%-8s %8.1f %8d+ %9d+ %9d+ %10d %10s %10s %7s %6s", s.Phase, s.T,
			s.Offered-prev.Offered, s.Accepted-prev.Accepted, s.Delivered-prev.Delivered, s.Backlog, peak(s.PostMaxMS), peak(s.DeliveryMaxMS), slow(prev, s), "")
	}
	self, others, steal := "", "", ""
	if prev.CPU > 0 {
		self = fmt.Sprintf("%.2f", (s.CPU-prev.CPU)/dt)
	}
	if _, st := s.Machine.Since(prev.Machine).Shares(); prev.Machine.Busy > 0 {
		steal = fmt.Sprintf("%.0f %%", st*100)
	}
	if _, o, ok := cores(prev, s, cpus); ok {
		others = fmt.Sprintf("%.2f", o)
	}
	return fmt.Sprintf("%-8s %8.1f %9.0f %10.0f %10.0f %10d %10s %10s %7s %6s %6s %6s", s.Phase, s.T,
		float64(s.Offered-prev.Offered)/dt, float64(s.Accepted-prev.Accepted)/dt, float64(s.Delivered-prev.Delivered)/dt, s.Backlog, peak(s.PostMaxMS), peak(s.DeliveryMaxMS), slow(prev, s), self, others, steal)
}

// slow is the write transactions longer than SlowWrite since the previous sample ("-":
// none).
func slow(prev, s Second) string {
	if n := s.SlowWrites - prev.SlowWrites; n > 0 && prev.T > 0 {
		return strconv.FormatInt(n, 10)
	}
	return "-"
}

// worstSecond is the index of the run's second (runSecond) with the longest post or
// delivery latency, or 0 when there is none.
func worstSecond(tl []Second) int {
	worst, at := 0.0, 0
	for i, s := range tl {
		if !runSecond(tl, i) {
			continue
		}
		if m := max(s.PostMaxMS, s.DeliveryMaxMS); m > worst {
			worst, at = m, i
		}
	}
	return at
}

// write prints the commits line (more, if set, goes inside its parentheses) and, when the
// writer measured its statement time (SQLite on Linux), the share of it it waited for a CPU.
func (f WriterFigures) write(w io.Writer, more string) {
	fmt.Fprintf(w, "  %-37s %12.0f /s      (%.1f write requests each; writing %.2f s/s%s)\n", "commits", f.CommitsPerSec, f.RequestsPerCommit, f.WriterBusy, more)
	if f.WriterStatementSecs > 0 {
		fmt.Fprintf(w, "  %-37s %11.1f %% of its statement time (%.2f s/s in statements)\n", "  writer waited for a CPU", 100*f.WriterCPUWait, f.WriterStatementSecs)
	}
}
