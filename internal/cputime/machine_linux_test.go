//go:build linux

package cputime

import "testing"

func TestParseStat(t *testing.T) {
	t.Parallel()
	m, ok := parseStat("cpu  131465 148 52549 182731 11207 0 7517 5634 0 0\n")
	if !ok || m.Busy != 131465+148+52549+7517 || m.Idle != 182731+11207 || m.Steal != 5634 {
		t.Fatalf("parsed %+v %v", m, ok)
	}
	if _, ok := parseStat("cpu0 1 2 3 4 5 6 7 8"); ok {
		t.Fatal("a single CPU's line was read as the machine's")
	}
	busy, steal := Machine{Busy: 6, Idle: 2, Steal: 2}.Since(Machine{Busy: 1, Idle: 1, Steal: 1}).Shares()
	if busy != 5.0/7 || steal != 1.0/7 {
		t.Fatalf("shares %v %v", busy, steal)
	}
	// Two CPUs, three quarters busy: 1.5 cores, of which this process used 1.2.
	if o := (Machine{Busy: 150, Idle: 50}).Others(2, 1.2); o < 0.2999 || o > 0.3001 {
		t.Fatalf("others %v, want 0.3", o)
	}
	if o := (Machine{Busy: 100, Idle: 100}).Others(2, 1.05); o != 0 {
		t.Fatalf("others %v, want 0 (never negative)", o)
	}
	if o := (Machine{}).Others(2, 0); o != 0 {
		t.Fatalf("others of no time %v", o)
	}
	if m, ok := ReadMachine(); !ok || m.Busy+m.Idle == 0 {
		t.Fatalf("this machine's /proc/stat: %+v %v", m, ok)
	}
}
