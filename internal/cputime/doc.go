// Package cputime reads the CPU time the process and the whole machine have used, for
// benchmarks that report the CPU a unit of work cost next to its wall time, and how much
// of the machine was theirs.
package cputime
