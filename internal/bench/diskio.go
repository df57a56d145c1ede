package bench

import (
	"strconv"
	"strings"
)

// parseWriteBytes reads write_bytes from the text of /proc/<pid>/io: the bytes the
// process caused to be written to storage (page cache flushes included, whoever flushed
// them), not the bytes it handed to write(2).
func parseWriteBytes(text string) (uint64, bool) {
	for line := range strings.Lines(text) {
		v, ok := strings.CutPrefix(line, "write_bytes:")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}
