package chaos

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chathooks/chathooks/internal/apptest"
)

// A read-only file system cannot be produced for a running server by remounting: Linux
// refuses to remount a mount (or bind mount) read-only while a file on it is open for
// writing (EBUSY), and SQLite keeps its database and WAL open. The file system that turns
// read-only under open files is one the kernel remounts after an error (ext4
// errors=remount-ro), and that one cannot become writable again without an unmount. So the
// test makes the server process see a read-only file system through seccomp: its file
// system writes are trapped (SECCOMP_RET_USER_NOTIF), and the test, as the supervisor,
// answers those on files under the data directory with EROFS while the fault lasts and lets
// every other call proceed. Which calls fail, and how, follows what ext4 does once it has
// gone read-only under open files (measured on Linux 6.18): writes, syncs, truncation and
// allocation through open descriptors, opening for writing, creating, removing and
// renaming fail with EROFS; opening an existing file to read (even with O_CREAT) succeeds;
// stores into a shared memory mapping (SQLite's -shm index) are memory writes, not calls,
// and go through. When the fault ends the same descriptors work again, as on a network or
// storage volume switched back to read-write.

// writeTrapEnv makes a chaos child install the write trap before it runs the server and
// print its listener's descriptor as a writeTrapNote line.
const (
	writeTrapEnv  = "CHATHOOKS_CHAOS_WRITE_TRAP"
	writeTrapNote = "chaos-write-trap "
)

// trappedCall is a system call the trap sends to the supervisor, with where its arguments
// name the file it writes: an open descriptor (fd >= 0), or (directory descriptor, path)
// argument pairs (a directory index of -1 means the working directory).
type trappedCall struct {
	nr    uintptr
	name  string
	fd    int
	paths [][2]int
}

// trappedCalls are the calls that write to the file system (write(2) on a descriptor is not
// among them: the server writes its sockets and logs with it, SQLite writes files only at
// offsets). openat is trapped only when it asks for writing or creation.
var trappedCalls = []trappedCall{
	{nr: unix.SYS_PWRITE64, name: "pwrite64", fd: 0},
	{nr: unix.SYS_PWRITEV, name: "pwritev", fd: 0},
	{nr: unix.SYS_PWRITEV2, name: "pwritev2", fd: 0},
	{nr: unix.SYS_FSYNC, name: "fsync", fd: 0},
	{nr: unix.SYS_FDATASYNC, name: "fdatasync", fd: 0},
	{nr: unix.SYS_SYNC_FILE_RANGE, name: "sync_file_range", fd: 0},
	{nr: unix.SYS_FTRUNCATE, name: "ftruncate", fd: 0},
	{nr: unix.SYS_FALLOCATE, name: "fallocate", fd: 0},
	{nr: unix.SYS_TRUNCATE, name: "truncate", fd: -1, paths: [][2]int{{-1, 0}}},
	{nr: unix.SYS_UNLINKAT, name: "unlinkat", fd: -1, paths: [][2]int{{0, 1}}},
	{nr: unix.SYS_MKDIRAT, name: "mkdirat", fd: -1, paths: [][2]int{{0, 1}}},
	{nr: unix.SYS_MKNODAT, name: "mknodat", fd: -1, paths: [][2]int{{0, 1}}},
	{nr: unix.SYS_RENAMEAT, name: "renameat", fd: -1, paths: [][2]int{{0, 1}, {2, 3}}},
	{nr: unix.SYS_RENAMEAT2, name: "renameat2", fd: -1, paths: [][2]int{{0, 1}, {2, 3}}},
	{nr: unix.SYS_LINKAT, name: "linkat", fd: -1, paths: [][2]int{{2, 3}}},
	{nr: unix.SYS_OPENAT, name: "openat", fd: -1, paths: [][2]int{{0, 1}}},
}

// openWriteFlags are the openat flags that make the trap send the call.
const openWriteFlags = unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC

// writeTrapFilter is the seccomp program: the trapped calls (openat only with
// openWriteFlags) go to the supervisor, everything else is allowed.
func writeTrapFilter() ([]unix.SockFilter, error) {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return nil, fmt.Errorf("no seccomp architecture for %s", runtime.GOARCH)
	}
	const (
		ldAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset   = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret    = unix.BPF_RET | unix.BPF_K
		offNr  = 0
		offArc = 4
		offArg = 16 // args[i] at 16 + 8*i; the low word first on little-endian machines
	)
	var calls []trappedCall
	for _, c := range trappedCalls {
		if c.nr != unix.SYS_OPENAT {
			calls = append(calls, c)
		}
	}
	n := len(calls)
	notify, allow := 4+n+3, 4+n+4 // indexes of the two return instructions
	prog := []unix.SockFilter{
		{Code: ldAbs, K: offArc},
		{Code: jeq, Jt: 1, K: arch},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW}, // another ABI (none in a Go program)
		{Code: ldAbs, K: offNr},
	}
	for i, c := range calls {
		prog = append(prog, unix.SockFilter{Code: jeq, Jt: uint8(notify - (4 + i + 1)), K: uint32(c.nr)})
	}
	prog = append(prog,
		unix.SockFilter{Code: jeq, Jf: uint8(allow - (4 + n + 1)), K: unix.SYS_OPENAT},
		unix.SockFilter{Code: ldAbs, K: offArg + 8*2},
		unix.SockFilter{Code: jset, Jf: 1, K: openWriteFlags},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	)
	return prog, nil
}

// installWriteTrap installs the filter on every thread of this process (and the threads it
// starts later) and returns the listener descriptor the supervisor answers on. Until a
// supervisor answers, a trapped call waits.
func installWriteTrap() (int, error) {
	prog, err := writeTrapFilter()
	if err != nil {
		return 0, err
	}
	runtime.LockOSThread() // no_new_privs and the filter are set from the same thread
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	flags := unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return 0, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER|TSYNC): %w", errno)
	}
	return int(fd), nil
}

// struct seccomp_notif and struct seccomp_notif_resp of <linux/seccomp.h>.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// writeTrap is the supervisor of one server process's trapped calls. One goroutine (serve)
// receives and answers them until the process is gone. readOnly is the fault switch;
// mu guards refused (per call name) and the unresolved count.
type writeTrap struct {
	fd       int
	dir      string // the data directory, symbolic links resolved
	readOnly atomic.Bool
	served   atomic.Int64
	done     chan struct{}

	mu         sync.Mutex
	refused    map[string]int
	unresolved int
}

// startTrapped starts a server whose file system writes the returned trap answers. It
// skips the test (fails it under CI=true) when this machine cannot trap calls.
func startTrapped(t *testing.T, dir string, args ...string) (*proc, *writeTrap) {
	t.Helper()
	p := spawnEnv(t, []string{writeTrapEnv + "=1"}, args...)
	var note string
	select {
	case note = <-p.notes:
	case <-p.done:
		t.Fatalf("server exited before installing its write trap: %s", p.stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not install its write trap within 60s: %s", p.stderr())
	}
	note = strings.TrimPrefix(note, writeTrapNote)
	if msg, ok := strings.CutPrefix(note, "error="); ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("seccomp user notification unavailable: %s", msg)
		}
		t.Skipf("seccomp user notification unavailable (needs Linux 5.9+, amd64 or arm64, seccomp not disabled): %s", msg)
	}
	childFD, err := strconv.Atoi(strings.TrimPrefix(note, "fd="))
	if err != nil {
		t.Fatalf("write trap note %q: %v", note, err)
	}
	pidfd, err := unix.PidfdOpen(p.cmd.Process.Pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open: %v", err)
	}
	fd, err := unix.PidfdGetfd(pidfd, childFD, 0)
	unix.Close(pidfd)
	if err != nil {
		t.Fatalf("pidfd_getfd of the seccomp listener: %v", err)
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := &writeTrap{fd: fd, dir: resolved, done: make(chan struct{}), refused: map[string]int{}}
	go w.serve()
	t.Cleanup(func() { p.kill(); <-w.done })
	select {
	case <-p.up:
	case <-p.done:
		t.Fatalf("server exited before listening: %s", p.stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not listen within 60s: %s", p.stderr())
	}
	return p, w
}

// serve answers trapped calls until the traced process is gone (the listener hangs up).
func (w *writeTrap) serve() {
	defer close(w.done)
	defer unix.Close(w.fd)
	byNr := map[int32]trappedCall{}
	for _, c := range trappedCalls {
		byNr[int32(c.nr)] = c
	}
	for {
		pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			return // POLLHUP: no process is left behind the filter
		}
		var n seccompNotif // the kernel wants it zeroed
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(w.fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); errno != 0 {
			if errno == unix.EINTR || errno == unix.ENOENT { // the caller went away meanwhile
				continue
			}
			return
		}
		resp := seccompNotifResp{ID: n.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		if c, ok := byNr[n.Nr]; ok && w.readOnly.Load() && w.refuse(c, &n) {
			resp = seccompNotifResp{ID: n.ID, Error: -int32(unix.EROFS)}
			w.mu.Lock()
			w.refused[c.name]++
			w.mu.Unlock()
		}
		w.served.Add(1)
		// ENOENT: the caller was interrupted meanwhile and will restart the call.
		_, _, _ = unix.Syscall(unix.SYS_IOCTL, uintptr(w.fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
	}
}

// refuse reports whether call c of n touches a file under the data directory in a way a
// read-only file system refuses.
func (w *writeTrap) refuse(c trappedCall, n *seccompNotif) bool {
	tid := int(n.Pid)
	if c.fd >= 0 {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", tid, int32(n.Args[c.fd])))
		if err != nil {
			w.noteUnresolved()
			return false
		}
		return w.under(target)
	}
	for _, pa := range c.paths {
		target, err := callPath(tid, n, pa[0], pa[1])
		if err != nil {
			w.noteUnresolved()
			return false
		}
		if !w.under(target) {
			continue
		}
		if c.nr == unix.SYS_OPENAT && n.Args[2]&(unix.O_WRONLY|unix.O_RDWR|unix.O_TRUNC) == 0 {
			// O_CREAT alone: a read-only file system opens an existing file, refuses
			// to create one.
			_, err := os.Lstat(target)
			return err != nil
		}
		return true
	}
	return false
}

func (w *writeTrap) under(path string) bool {
	return path == w.dir || strings.HasPrefix(path, w.dir+"/")
}

func (w *writeTrap) noteUnresolved() {
	w.mu.Lock()
	w.unresolved++
	w.mu.Unlock()
}

// report describes the refused calls, by name.
func (w *writeTrap) report() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for name, k := range w.refused {
		parts = append(parts, fmt.Sprintf("%s %d", name, k))
	}
	sort.Strings(parts)
	return fmt.Sprintf("refused with EROFS: %s (of %d trapped calls answered; %d unresolved paths)", strings.Join(parts, ", "), w.served.Load(), w.unresolved)
}

// callPath reads the path argument pathArg of a trapped call from the caller's memory and
// makes it absolute against its directory argument dirArg (-1: the working directory).
func callPath(tid int, n *seccompNotif, dirArg, pathArg int) (string, error) {
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", tid))
	if err != nil {
		return "", err
	}
	defer mem.Close()
	var path []byte
	buf := make([]byte, 256)
	for off := int64(n.Args[pathArg]); len(path) < 4096; off += int64(len(buf)) {
		k, err := mem.ReadAt(buf, off)
		if i := strings.IndexByte(string(buf[:k]), 0); i >= 0 {
			path = append(path, buf[:i]...)
			break
		}
		path = append(path, buf[:k]...)
		if err != nil {
			return "", fmt.Errorf("read path: %w", err)
		}
	}
	p := string(path)
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	link := fmt.Sprintf("/proc/%d/cwd", tid)
	if dirArg >= 0 && int32(n.Args[dirArg]) != unix.AT_FDCWD {
		link = fmt.Sprintf("/proc/%d/fd/%d", tid, int32(n.Args[dirArg]))
	}
	base, err := os.Readlink(link)
	if err != nil {
		return "", err
	}
	return filepath.Join(base, p), nil
}

// childHooks creates a user and n rooms, each with an incoming webhook, on a server process.
func childHooks(t *testing.T, base, prefix string, n int) []hook {
	t.Helper()
	var hooks []hook
	if _, err := api(base, "POST", "/users", map[string]any{"id": "u", "name": "U"}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		room := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := api(base, "POST", "/rooms", map[string]any{"id": room, "name": room, "member_ids": []string{"u"}}, nil); err != nil {
			t.Fatal(err)
		}
		var wh struct{ ID, Token string }
		if _, err := api(base, "POST", "/rooms/"+room+"/webhooks", map[string]any{"name": "w"}, &wh); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, hook{room: room, id: wh.ID, token: wh.Token})
	}
	return hooks
}

// TestSQLiteReadOnly: under load through every dialect, the file system under a SQLite
// server's data directory turns read-only (see the comment at the top of this file for
// how), twice, for 2 s. Meanwhile posts are answered 503 in their dialect's shape, no post
// sent after the switch is acknowledged, and /readyz is 503. When the file system is
// writable again the same process accepts posts again, /readyz is 200, every acknowledged
// post is stored exactly once and delivered, and the database passes the integrity check.
func TestSQLiteReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, trap := startTrapped(t, dir, serveArgs("--data", dir)...)
	hooks := childHooks(t, p.url, "ro", 4)
	sk := newSink(t, "standard", "whsec_"+strings.Repeat("B", 32))
	if _, err := api(p.url, "POST", "/endpoints", map[string]any{"url": sk.URL, "format": "standard", "secret": sk.secret, "event_types": []string{"group_channel:message_send"}}, nil); err != nil {
		t.Fatal(err)
	}
	ready := func() answer {
		r, err := http.Get(p.url + "/readyz")
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		return readAnswer(r)
	}
	l := newFaultLoad(t, p.url, hooks)
	stop := make(chan struct{})
	wg := l.run(stop, 4)
	var worst time.Duration
	for round := range 2 {
		since := time.Now()
		load := time.NewTimer(time.Second)
		<-load.C // a second of normal load, so writes and deliveries are under way at the switch
		l.recovered(30*time.Second, since, "posts accepted before the file system turns read-only")
		trap.readOnly.Store(true)
		roAt := time.Now()
		refusedBefore := l.refused.Load()
		apptest.Eventually(t, 10*time.Second, "posts refused while read-only", func() bool { return l.refused.Load() > refusedBefore })
		if a := ready(); a.status != http.StatusServiceUnavailable {
			t.Errorf("readyz while read-only: %d %s", a.status, a.body)
		}
		fault := time.NewTimer(2*time.Second - time.Since(roAt))
		<-fault.C // the fault lasts 2 s whatever the load does meanwhile
		if ok := l.lastOK.Load(); ok > roAt.UnixNano() {
			t.Errorf("a post sent %v after the file system turned read-only was acknowledged", time.Duration(ok-roAt.UnixNano()))
		}
		trap.readOnly.Store(false)
		rwAt := time.Now()
		took := l.recovered(30*time.Second, rwAt, "posts accepted once the file system is writable")
		worst = max(worst, took)
		apptest.Eventually(t, 30*time.Second, "readyz 200 once writable", func() bool { return ready().status == http.StatusOK })
		t.Logf("read-only %d: %d posts refused 503 so far; first accepted post started %v after the file system was writable", round, l.refused.Load(), took.Round(time.Millisecond))
	}
	close(stop)
	wg.Wait()
	select {
	case <-p.done:
		t.Fatalf("the server exited: %s", p.stderr())
	default:
	}
	acked := l.checkStored(p.url, adminToken)
	var ids, unconfirmed []string
	c := &crashLoop{t: t, hooks: hooks}
	l.ledger.mu.Lock()
	for text, ms := range c.stored(p.url) {
		if _, ok := l.ledger.acked[text]; ok {
			ids = append(ids, ms...)
		} else if strings.HasPrefix(text, "fault-") {
			unconfirmed = append(unconfirmed, ms...)
		}
	}
	l.ledger.mu.Unlock()
	waitFrom := time.Now()
	apptest.Eventually(t, 120*time.Second, "every acknowledged post delivered after the faults", func() bool { return sk.missing(ids) == 0 })
	delivered := time.Since(waitFrom)
	if len(unconfirmed) > 0 {
		t.Errorf("%d posts answered with an error are stored", len(unconfirmed))
	}
	p.stop()
	integrityCheck(t, dir)
	l.ledger.mu.Lock()
	statuses := fmt.Sprint(l.ledger.statuses)
	l.ledger.mu.Unlock()
	t.Logf("two 2 s read-only faults under load: %d posts acknowledged (stored once, all %d delivered %v after the load stopped), %d refused 503 in the dialect's shape, %d transport errors (statuses %s); slowest recovery %v; integrity ok; %s",
		acked, len(ids), delivered.Round(time.Millisecond), l.refused.Load(), l.errs.Load(), statuses, worst.Round(time.Millisecond), trap.report())
}
