package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// checkpointPages is how many WAL pages start a checkpoint: 16 MiB of 4 KiB pages, four
// times SQLite's own default. Every background checkpoint ends with the writer's catch-up
// (below), which copies the last frames and flushes the database file inside a COMMIT
// while the write queue waits: a few milliseconds, longer for a larger threshold but far
// from in proportion. Measured under a closed loop of 64 posting clients, 1,000 pages cost
// the writer a catch-up every 30 ms or so, about a tenth of its time; 4,000 pages a
// quarter as many catch-ups and half that time, and the background checkpoints less time
// too: a page written many times between two checkpoints (as the last page of each table
// the posts append to is) is copied once, and the database file flushed a quarter as
// often. 8,000 pages measured no better.
// Past checkpointPagesMax (the background checkpoint is stuck or far behind), the writer
// checkpoints itself, as SQLite would, so the WAL stays bounded whatever happens.
const (
	checkpointPages    = 4000
	checkpointPagesMax = 10 * checkpointPages
)

// catchUpFrames is how many frames a background checkpoint may leave for the writer's
// catch-up; maxPasses bounds its passes (the writer may append faster than it copies).
const (
	catchUpFrames = 32
	maxPasses     = 8
)

// checkpointer copies the WAL back into the database file on its own connection, so the
// writer's commits never wait for it. SQLite's automatic checkpoint runs inside the COMMIT
// that crosses the threshold: the writer then copies every page of the WAL and syncs the
// database file while the whole write queue waits (measured: commits took 3 ms on average
// with it and 1.7 ms without, under 2,500 posts/s).
//
// A checkpoint that runs beside the writer cannot leave the WAL empty (the writer keeps
// appending), and SQLite only starts the WAL over from its beginning when a write begins
// with every frame copied. So after each background checkpoint, the writer's next commit
// copies the few frames appended meanwhile itself (from the WAL hook, as SQLite's automatic
// checkpoint does), and the write after it starts the WAL over: the WAL stays bounded.
//
// The catch-up copies its frames into the database file and flushes that file inside the
// writer's COMMIT (measured under load: 11–20 ms when the background pass had left a few
// hundred frames). So the background checkpoint runs again, each pass copying what was
// appended during the one before (fewer each time), until at most catchUpFrames are left
// (or maxPasses ran): the writer's share stays small.
//
// Goroutines: run (one) waits for a signal and checkpoints. The WAL hook runs on the
// writer's goroutine, inside its COMMIT. Shared state: wake (one slot: a checkpoint is
// wanted), finished (set by run after a checkpoint, cleared by the hook that catches up),
// running (set by the hook when it signals, cleared by run when done: at most one signal
// is outstanding).
type checkpointer struct {
	db       *sql.DB
	log      *slog.Logger
	wake     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	running  atomic.Bool
	finished atomic.Bool
	done     atomic.Int64 // background checkpoints run (for tests)
	passes   atomic.Int64 // background checkpoint passes run (for tests)
	// afterPass, if set (tests), runs after each pass of a background checkpoint that ran,
	// with the frames the pass left uncopied.
	afterPass func(left int)
	// pass runs one passive checkpoint on the checkpointer's connection and returns SQLite's
	// three numbers (tests wrap it to force a pass that cannot run).
	pass func() (busy, frames, copied int, err error)
	// pause waits before a pass is retried (wait; tests record the pauses instead).
	pause func(time.Duration) bool
}

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &checkpointer{db: db, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.pass = func() (busy, frames, copied int, err error) {
		err = db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		return busy, frames, copied, err
	}
	c.pause = c.wait
	c.wg.Add(1)
	go c.run()
	return c
}

// hook is the writer connection's WAL hook: called after each commit with the number of
// pages in the WAL. Installing it turns SQLite's automatic checkpoint off.
func (c *checkpointer) hook(db *sqlite3.Conn, schema string, pages int) error {
	if c.finished.Swap(false) {
		// Catch up: copy what was appended during the background checkpoint, so the next
		// write can start the WAL over. A failure (a reader still needs old frames) is
		// harmless: the next background checkpoint tries again.
		if _, _, err := db.WALCheckpoint(schema, sqlite3.CHECKPOINT_PASSIVE); err != nil {
			c.log.Debug("wal catch-up checkpoint", slog.Any("error", err))
		}
		return nil
	}
	if pages >= checkpointPagesMax {
		if _, _, err := db.WALCheckpoint(schema, sqlite3.CHECKPOINT_PASSIVE); err != nil {
			c.log.Warn("wal checkpoint", slog.Any("error", err))
		}
		return nil
	}
	if pages >= checkpointPages && c.running.CompareAndSwap(false, true) {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func (c *checkpointer) run() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		ran, err := c.checkpoint()
		if err != nil {
			c.log.Warn("wal checkpoint", slog.Any("error", err))
		}
		if ran {
			c.finished.Store(true)
			c.done.Add(1)
		}
		// Not ran: the writer's next commit past the threshold signals again. No catch-up
		// is asked for, since nothing was copied that would make it short.
		c.running.Store(false)
	}
}

// checkpoint runs passive checkpoints (they never block the writer or readers) until at
// most catchUpFrames frames are left uncopied, or maxPasses were tried. A panic is logged,
// never a process exit.
//
// A pass can fail to run (SQLite answers -1 frames) or copy nothing while another
// connection is in the middle of something: another checkpoint, the writer's commit
// updating the shared WAL index, a transaction beginning that holds a reader slot's lock
// for a moment. With the writer's goroutine descheduled at such a moment, it can last as
// long as the goroutine waits for a CPU, and passes retried at once all meet it. So such a
// pass is retried after a pause that doubles each time (backoffFirst, then twice that…);
// a reader that really holds old frames costs a few idle pauses, not a busy loop. ran is
// false when no pass ran.
func (c *checkpointer) checkpoint() (ran bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	prev, stuck, pause := -1, false, backoffFirst
	for range maxPasses {
		if stuck {
			if !c.pause(pause) {
				return ran, nil // closing
			}
			pause *= 2
		}
		_, frames, copied, err := c.pass() // copied: of the frames, those in the database file so far
		if err != nil {
			return ran, err
		}
		if frames < 0 {
			stuck = true // this pass could not run
			continue
		}
		ran = true
		c.passes.Add(1)
		left := frames - copied
		if c.afterPass != nil {
			c.afterPass(left)
		}
		if left <= catchUpFrames {
			return ran, nil // few enough for the writer
		}
		stuck = copied == prev // no progress since the last pass that ran
		prev = copied
	}
	return ran, nil
}

// backoffFirst is the pause before the first retry of a pass that could not run or copied
// nothing; the pauses double, so maxPasses passes wait about 30 ms at most in all.
const backoffFirst = 250 * time.Microsecond

// wait pauses the checkpointer for d, or until it is closed (false).
func (c *checkpointer) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// close stops the goroutine and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	c.wg.Wait()
	return c.db.Close()
}
