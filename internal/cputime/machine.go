package cputime

// Machine is the CPU time of the whole machine, all CPUs together, in clock ticks: Busy
// running anything (user, system, interrupts), Idle (waiting for I/O included), and Steal,
// the time a virtual machine's CPUs were ready to run but the hypervisor ran something
// else.
type Machine struct {
	Busy, Idle, Steal uint64
}

// Since is the machine's CPU time between m0 and m.
func (m Machine) Since(m0 Machine) Machine {
	return Machine{Busy: m.Busy - m0.Busy, Idle: m.Idle - m0.Idle, Steal: m.Steal - m0.Steal}
}

// Shares are the busy and stolen parts of the time (0..1); zero when none passed.
func (m Machine) Shares() (busy, steal float64) {
	total := float64(m.Busy + m.Idle + m.Steal)
	if total == 0 {
		return 0, 0
	}
	return float64(m.Busy) / total, float64(m.Steal) / total
}

// Others is how many of the machine's cpus other processes kept busy on average over the
// interval m (a Since), given that this process used self cores meanwhile; zero when no
// time passed (no busy share). Never below zero: the two are read a moment apart.
func (m Machine) Others(cpus int, self float64) float64 {
	busy, _ := m.Shares()
	return max(0, busy*float64(cpus)-self)
}
