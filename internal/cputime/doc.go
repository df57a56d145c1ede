// Package cputime reads the CPU time the process has used, for benchmarks that report
// the CPU a unit of work cost next to its wall time.
package cputime
