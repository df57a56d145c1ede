package bench

import "testing"

// parseWriteBytes takes write_bytes from /proc/<pid>/io, not the bytes written through
// write(2) (wchar) nor the cancelled ones.
func TestParseWriteBytes(t *testing.T) {
	const io = "rchar: 4011\nwchar: 9000\nsyscr: 12\nsyscw: 7\nread_bytes: 0\nwrite_bytes: 1228800\ncancelled_write_bytes: 4096\n"
	if n, ok := parseWriteBytes(io); !ok || n != 1228800 {
		t.Fatalf("write_bytes: %d %v, want 1228800", n, ok)
	}
	if _, ok := parseWriteBytes("rchar: 1\n"); ok {
		t.Fatal("no write_bytes line: read as if there were one")
	}
}
