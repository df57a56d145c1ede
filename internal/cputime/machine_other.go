//go:build !linux

package cputime

// ReadMachine is not measured on this platform.
func ReadMachine() (Machine, bool) { return Machine{}, false }
