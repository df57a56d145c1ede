//go:build linux

package cputime

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// ReadMachine reads the machine's CPU time, all CPUs together, from /proc/stat.
func ReadMachine() (Machine, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return Machine{}, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return Machine{}, false
	}
	return parseStat(line)
}

// parseStat reads the "cpu" line of /proc/stat: user nice system idle iowait irq softirq
// steal, in clock ticks (later fields, guest time, are already counted in user).
func parseStat(line string) (Machine, bool) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return Machine{}, false
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return Machine{}, false
		}
		v[i] = n
	}
	return Machine{Busy: v[0] + v[1] + v[2] + v[5] + v[6], Idle: v[3] + v[4], Steal: v[7]}, true
}
