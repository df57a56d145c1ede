package postgres

// PoolConfig is poolConfig, for tests.
var PoolConfig = poolConfig
