package libcache

// Hooks for the tests of package libcache_test.

// FlightWaiters is how many GetOrLoad callers wait for the load of key.
func FlightWaiters(c *Cache, key string) int { return c.flightWaiters(key) }

// ForgottenCloses is how many caches the cleanup closed so far.
func ForgottenCloses() int64 { return forgottenCloses.Load() }

// StripeCount is the number of the guard's in-flight counters.
func StripeCount(c *Cache) int { return len(c.s.g.stripes) }
