package bench

// DiskWrites is diskWrites, for the tests outside the package.
var DiskWrites = diskWrites
