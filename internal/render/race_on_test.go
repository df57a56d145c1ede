//go:build race

package render

// raceEnabled: the race detector slows code unevenly, so timing tests skip.
const raceEnabled = true
