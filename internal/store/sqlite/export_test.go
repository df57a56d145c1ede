package sqlite

// LocksDataDir reports whether Open locks the data directory on this platform.
const LocksDataDir = locksDataDir
