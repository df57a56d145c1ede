package bench

// DiskWrites is diskWrites, for the tests outside the package.
var DiskWrites = diskWrites

// WorstSecond exposes worstSecond to the smoke tests.
var WorstSecond = worstSecond
