// C helpers of the Go binding (package libcache): static, one copy per cgo
// file that includes it. See cgo.go.
#ifndef LIBCACHE_GO_LCGO_H
#define LIBCACHE_GO_LCGO_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libcache/cache.h>
#include <libcache/cache_experimental.h>

// A pinned read: the handle (NULL when the value was copied or on a miss),
// its bytes and size.
typedef struct {
	int rc;
	int spilled;  // data is a malloc'd copy (lcgo_get_into): free it
	cache_value_t *h;
	const void *data;
	size_t size;
} lcgo_pin;

static inline lcgo_pin lcgo_get_value(cache_t *c, const char *k, size_t kl) {
	lcgo_pin r = {0, 0, NULL, NULL, 0};
	r.rc = cache_get_value(c, k, kl, &r.h);
	if (r.rc == CACHE_OK) {
		r.data = cache_value_data(r.h);
		r.size = cache_value_size(r.h);
	}
	return r;
}

// One lookup of a copying read into buf (capacity cap), without pinning:
// cache_read's callback copies the value into buf when it fits, and into
// fresh C memory (spill, freed by the caller) when it does not. No
// reference count is touched, and the read counts one hit or miss. With
// cap == 0 the value comes back pinned instead (h), for the caller to copy
// and release.
typedef struct {
	char *buf;
	size_t cap;
	size_t size;
	void *spill;
} lcgo_read_ctx;

static inline void lcgo_read_fn(void *ctx, const void *val, size_t vlen) {
	lcgo_read_ctx *r = (lcgo_read_ctx *)ctx;
	r->size = vlen;
	if (vlen <= r->cap) {
		if (vlen > 0) memcpy(r->buf, val, vlen);
	} else if ((r->spill = malloc(vlen)) != NULL) {
		memcpy(r->spill, val, vlen);
	}
}

static inline lcgo_pin lcgo_get_into(cache_t *c, const char *k, size_t kl, char *buf, size_t cap) {
	if (cap == 0) return lcgo_get_value(c, k, kl);
	lcgo_read_ctx ctx = {buf, cap, 0, NULL};
	lcgo_pin r = {0, 0, NULL, NULL, 0};
	r.rc = cache_read(c, k, kl, lcgo_read_fn, &ctx);
	if (r.rc != CACHE_OK) return r;
	r.size = ctx.size;
	if (ctx.size > cap) {
		if (ctx.spill == NULL) r.rc = CACHE_E_NOMEM;
		r.data = ctx.spill;
		r.spilled = 1;
	}
	return r;
}

static inline lcgo_pin lcgo_take(cache_t *c, const char *k, size_t kl) {
	lcgo_pin r = {0, 0, NULL, NULL, 0};
	r.rc = cache_take(c, k, kl, &r.h);
	if (r.rc == CACHE_OK) {
		r.data = cache_value_data(r.h);
		r.size = cache_value_size(r.h);
	}
	return r;
}

// The keys and values: const char * rather than the C ABI's const void *,
// so that cgo knows the memory holds no Go pointers and skips its run-time
// pointer check (cgocheck) on every call: a fifth of a Get's time.
static inline int lcgo_write(cache_t *c, int mode, const char *k, size_t kl, const char *v, size_t vl,
                             int64_t ttl_ms) {
	switch (mode) {
	case CACHE_WRITE_SET: return cache_set(c, k, kl, v, vl, ttl_ms);
	case CACHE_WRITE_ADD: return cache_add(c, k, kl, v, vl, ttl_ms);
	default: return cache_replace(c, k, kl, v, vl, ttl_ms);
	}
}

static inline int lcgo_delete(cache_t *c, const char *k, size_t kl) { return cache_delete(c, k, kl); }

static inline int lcgo_touch(cache_t *c, const char *k, size_t kl, int64_t ttl_ms) {
	return cache_touch(c, k, kl, ttl_ms);
}

// Presence: cache_read without a callback (counts a hit or a miss, as a
// read does).
static inline int lcgo_has(cache_t *c, const char *k, size_t kl) {
	return cache_read(c, k, kl, NULL, NULL);
}

typedef struct {
	int rc;
	int64_t ms;
} lcgo_i64;

static inline lcgo_i64 lcgo_ttl(cache_t *c, const char *k, size_t kl) {
	lcgo_i64 r = {0, 0};
	r.rc = cache_ttl(c, k, kl, &r.ms);
	return r;
}

static inline lcgo_i64 lcgo_purge(cache_t *c) {
	uint64_t n = 0;
	lcgo_i64 r = {0, 0};
	r.rc = cache_purge_expired(c, &n);
	r.ms = (int64_t)n;
	return r;
}

// The manual clock: ctx is 8 bytes of C memory that Go advances atomically.
static inline uint64_t lcgo_manual_clock(void *ctx) {
	return __atomic_load_n((const uint64_t *)ctx, __ATOMIC_ACQUIRE);
}

// Sets every option and opens: rc, and which step failed (1 max_bytes,
// 2 max_entries, 3 default TTL, 4 shards, 5 policy, 6 clock, 7 open, 0
// allocating the options).
typedef struct {
	int rc;
	int step;
	cache_t *cache;
} lcgo_opened;

static inline lcgo_opened lcgo_open(int set_max_bytes, uint64_t max_bytes, uint64_t max_entries,
                             uint64_t ttl_ms, uint32_t shards, int policy, uint64_t *clock) {
	lcgo_opened r = {CACHE_E_NOMEM, 0, NULL};
	cache_options_t *o = cache_options_new();
	if (o == NULL) return r;
	if (set_max_bytes && (r.rc = cache_options_set_max_bytes(o, max_bytes)) != CACHE_OK) r.step = 1;
	else if ((r.rc = cache_options_set_max_entries(o, max_entries)) != CACHE_OK) r.step = 2;
	else if ((r.rc = cache_options_set_default_ttl_ms(o, ttl_ms)) != CACHE_OK) r.step = 3;
	else if ((r.rc = cache_options_set_shards(o, shards)) != CACHE_OK) r.step = 4;
	else if ((r.rc = cache_options_set_policy(o, policy)) != CACHE_OK) r.step = 5;
	else if (clock != NULL && (r.rc = cache_options_set_clock(o, lcgo_manual_clock, clock)) != CACHE_OK) r.step = 6;
	else if ((r.rc = cache_open(o, &r.cache)) != CACHE_OK) r.step = 7;
	cache_options_free(o);
	return r;
}

#endif  // LIBCACHE_GO_LCGO_H
