'use strict';
// libcache.Cache: the engine under an API in the style of the npm lru-cache
// package. The hot methods (get, set, has, delete) go straight to the addon
// (src/addon.cc), which checks and converts keys and values itself; what is
// here checks options, runs the JSON codec and fetch()'s single flight.

const { AsyncLocalStorage } = require('node:async_hooks');
const native = require('./native');
const errors = require('./errors');

const { typeError, rangeError } = errors;

// get()'s copy of a value's bytes (see get). One per thread: a worker
// thread loads its own copy of this module.
const SCRATCH = Buffer.allocUnsafe(64 * 1024);
const IN_SCRATCH = Symbol('libcache: the value is in the scratch buffer');

const WRITE_SET = 0;
const WRITE_ADD = 1;
const WRITE_REPLACE = 2;
const TTL_DEFAULT = -1;
const POLICIES = { clock: 0, adaptive: 1 };
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const OPTION_NAMES = new Set(['maxBytes', 'maxEntries', 'ttl', 'shards', 'policy', 'codec', '_clock']);

function intOption(options, name) {
  const v = options[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw typeError(`options.${name} must be a number, not ${typeof v}`);
  if (!Number.isInteger(v) || v < 0 || v > MAX_SAFE)
    throw rangeError(`options.${name} must be an integer >= 0; got ${v}`);
  return v;
}

// A TTL argument in ms: undefined = the cache's default TTL (-1), 0 or
// Infinity = never expires, a fraction rounds up (0.5 ms lives 1 ms, never 0).
function ttlMs(v, name) {
  if (v === undefined) return TTL_DEFAULT;
  if (typeof v !== 'number') throw typeError(`${name} must be a number of milliseconds, not ${typeof v}`);
  if (v === Infinity) return 0;
  if (!(v >= 0) || v > MAX_SAFE)
    throw rangeError(`${name} must be >= 0 ms (0 or Infinity: never expires); got ${v}`);
  return Math.ceil(v);
}

function ttlOfOptions(options, name) {
  if (options === undefined || options === null) return TTL_DEFAULT;
  if (typeof options !== 'object') throw typeError(`${name} must be an object like { ttl }, not ${typeof options}`);
  return ttlMs(options.ttl, `${name}.ttl`);
}

// The key of fetch()'s flight table: one entry per engine key, whether the
// caller passed a string or a Buffer with the same bytes.
function flightKey(key) {
  if (typeof key === 'string') return key;
  if (key instanceof Uint8Array) {
    const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    const s = buf.toString('utf8');
    if (Buffer.byteLength(s) === buf.length && Buffer.from(s).equals(buf)) return s;
    return '\u0000bytes:' + buf.toString('hex');
  }
  throw typeError('key must be a string or a Buffer (Uint8Array)');
}

const TYPES = { b: 'bytes', s: 'string', c: 'json', i: 'int', I: 'int', d: 'float', T: 'bool', F: 'bool', N: 'null' };

/** A zero-copy view of a stored value (Cache#getView). */
class ValueView {
  constructor(handle) {
    this._handle = handle;
    /** The value's bytes, in the engine's memory: valid until release(). */
    this.buffer = Buffer.from(handle.arrayBuffer);
    /** What was stored: "bytes", "string" (its UTF-8 bytes), "json", ... */
    this.type = TYPES[handle.tag] || 'unknown';
  }

  /** Lets the engine free the bytes; buffer is detached (length 0) after. */
  release() {
    return this._handle.release();
  }
}

const loading = new AsyncLocalStorage(); // the flight keys a loader runs for

class Cache {
  /**
   * @param {object} [options] maxBytes (default 64 MiB; 0 = no byte bound),
   *   maxEntries (0/undefined = none), ttl (default TTL in ms; 0 = none),
   *   shards (power of two; automatic), policy ("clock" | "adaptive"),
   *   codec ("json" | undefined)
   */
  constructor(options = {}) {
    if (options === null || typeof options !== 'object')
      throw typeError(`options must be an object, not ${options === null ? 'null' : typeof options}`);
    for (const name of Object.keys(options))
      if (!OPTION_NAMES.has(name)) throw typeError(`unknown option ${JSON.stringify(name)}`);
    const opts = {
      maxBytes: intOption(options, 'maxBytes'),
      maxEntries: intOption(options, 'maxEntries'),
      shards: intOption(options, 'shards'),
    };
    if (options.ttl !== undefined) {
      const t = ttlMs(options.ttl, 'options.ttl');
      opts.ttl = t;
    }
    if (options.policy !== undefined) {
      if (typeof options.policy !== 'string') throw typeError('options.policy must be "clock" or "adaptive"');
      if (!(options.policy in POLICIES))
        throw rangeError(`options.policy must be "clock" or "adaptive"; got ${JSON.stringify(options.policy)}`);
      opts.policy = POLICIES[options.policy];
    }
    if (options.codec !== undefined && options.codec !== 'json')
      throw rangeError(`options.codec must be "json" or undefined; got ${String(options.codec)}`);
    if (options._clock !== undefined) {
      if (!(options._clock instanceof native.FakeClock)) throw typeError('options._clock must be a FakeClock');
      opts.clock = options._clock;
    }
    if (options.codec === 'json') opts.parse = JSON.parse;
    this._codec = options.codec;
    this._policy = options.policy === undefined ? 'clock' : options.policy;
    this._flights = new Map();
    this._redis = null;
    this._n = new native.NativeCache(opts);
  }

  /** The eviction policy: "clock" or "adaptive". */
  get policy() {
    return this._policy;
  }

  /** The value stored for key (a copy), or undefined. */
  get(key) {
    // For a Buffer value the addon copies the stored bytes into SCRATCH and
    // returns IN_SCRATCH (any other value it decodes and returns; a miss is
    // undefined): a Buffer made here from Node's pool costs half of one made
    // through Node-API.
    const r = this._n.getInto(key, SCRATCH, IN_SCRATCH);
    if (r !== IN_SCRATCH) return r;  // a miss, or a value the addon decoded
    // A Buffer value: its length, its tag ('b'), its bytes.
    return Buffer.from(SCRATCH.subarray(5, 4 + SCRATCH.readUInt32LE(0)));
  }

  /** Stores value for key; returns this. options.ttl: ms (0: never expires). */
  set(key, value, options) {
    const ttl = options === undefined ? TTL_DEFAULT : ttlOfOptions(options, 'options');
    if (typeof value === 'string' || value instanceof Uint8Array) this._n.set(key, value, ttl, WRITE_SET);
    else this._n.set(key, this._encode(value), ttl, WRITE_SET, 'c');
    return this;
  }

  /** Stores value only if key has no live entry; false if it had one. */
  add(key, value, options) {
    return this._write(key, value, ttlOfOptions(options, 'options'), WRITE_ADD);
  }

  /** Stores value only if key has a live entry; false if it had none. */
  replace(key, value, options) {
    return this._write(key, value, ttlOfOptions(options, 'options'), WRITE_REPLACE);
  }

  _write(key, value, ttl, mode) {
    if (typeof value === 'string' || value instanceof Uint8Array) return this._n.set(key, value, ttl, mode);
    return this._n.set(key, this._encode(value), ttl, mode, 'c');
  }

  _encode(value) {
    if (this._codec === undefined) {
      if (this._n.closed()) throw errors.makeError(-8, 'the cache is closed (close() was called)');
      throw typeError(
        `cannot store a ${value === null ? 'null' : typeof value} without a codec: values are ` +
          'Buffers and strings; open the cache with { codec: "json" } for other values'
      );
    }
    let s;
    try {
      s = JSON.stringify(value);
    } catch (e) {
      const err = errors.makeError(-1000, `the JSON codec could not encode the value: ${e.message}`);
      err.cause = e;
      throw err;
    }
    if (s === undefined) throw typeError(`cannot store ${typeof value} values: JSON has no form for them`);
    return s;
  }

  /** true if key has a live entry (counts as a read: a hit or a miss). */
  has(key) {
    return this._n.has(key);
  }

  /** Removes key; true if it was there. */
  delete(key) {
    return this._n.delete(key);
  }

  /** Removes key and returns its value (undefined if absent), as one step. */
  take(key) {
    return this._n.take(key);
  }

  /** Resets key's TTL to ttl ms from now (undefined: the default TTL); false if absent. */
  touch(key, ttl) {
    return this._n.touch(key, ttlMs(ttl, 'ttl'));
  }

  /** ms before key expires: Infinity without a TTL, 0 when absent (as lru-cache). */
  getRemainingTTL(key) {
    const ms = this._n.ttl(key);
    return ms === undefined ? 0 : ms;
  }

  /** Removes every entry. */
  clear() {
    this._n.clear();
  }

  /** Frees every expired entry now; returns how many. */
  purgeExpired() {
    return this._n.purgeExpired();
  }

  /** Counters since the cache was made, and what it holds now. */
  stats() {
    return this._n.stats();
  }

  /** Entries held now (expired ones not yet reclaimed included). */
  get size() {
    return this._n.stats().entries;
  }

  /**
   * A zero-copy read: a ValueView whose .buffer is the stored bytes, pinned
   * until .release() (or until the view and its buffer are garbage collected,
   * which happens only when the event loop turns: release explicitly).
   */
  getView(key) {
    const h = this._n.pin(key);
    return h === undefined ? undefined : new ValueView(h);
  }

  /**
   * The value for key; on a miss, loader(key) once for all concurrent callers
   * of the same key (single flight), its result stored (unless undefined)
   * with options.ttl. A loader that fetch()es its own key rejects with
   * ReentrantLoadError rather than waiting for itself forever.
   */
  fetch(key, loader, options) {
    try {
      if (typeof loader !== 'function') throw typeError('loader must be a function');
      const ttl = ttlOfOptions(options, 'options');
      const hit = this._n.get(key);
      if (hit !== undefined) return Promise.resolve(hit);
      const fk = flightKey(key);
      const running = loading.getStore();
      if (running !== undefined && running.has(fk))
        throw new errors.ReentrantLoadError(
          'fetch() called from its own loader for the same key: it would wait for itself',
          'ERR_LIBCACHE_REENTRANT_LOAD'
        );
      const inflight = this._flights.get(fk);
      if (inflight !== undefined) return inflight;
      const keys = new Set(running);
      keys.add(fk);
      const flight = loading
        .run(keys, async () => {
          const value = await loader(key);
          if (value !== undefined && !this._n.closed()) this.set(key, value, { ttl: ttl === TTL_DEFAULT ? undefined : ttl });
          return value;
        })
        .finally(() => {
          if (this._flights.get(fk) === flight) this._flights.delete(fk);
        });
      this._flights.set(fk, flight);
      return flight;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * As get(), on a worker thread: with a Redis store that reads through, a
   * miss waits for Redis there rather than on the event loop.
   */
  getAsync(key) {
    try {
      return this._n.getAsync(key);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Attaches Redis as this cache's shared tier (see RedisStore): connects at
   * once, within options.connectTimeout (default 1000 ms), so a wrong URL
   * throws here (BackendError, ERR_LIBCACHE_IO). Every local write then
   * reaches Redis within ms (write-behind), misses read through from Redis
   * (options.readThrough, default true: a synchronous get() of a missing key
   * then waits for Redis, up to options.loadTimeout, 100 ms; getAsync() waits
   * on a worker thread), and copies another process changed are dropped
   * (options.coherence, default true).
   */
  attachRedis(url, options) {
    if (this._redis !== null && !this._redis.closed)
      throw errors.makeError(2, 'attachRedis: the cache has a Redis store already');
    const { RedisStore } = require('./redis');
    this._redis = new RedisStore(this, url, options);
    return this._redis;
  }

  /** The attached Redis store, or null. */
  get redis() {
    return this._redis !== null && !this._redis.closed ? this._redis : null;
  }

  /** The number of lock shards (after automatic choice). */
  get shards() {
    return this._n.shardCount();
  }

  /** true once close() was called. */
  get closed() {
    return this._n.closed();
  }

  /**
   * Frees the cache (and closes its Redis adapter, if any); every later call
   * throws CacheClosedError. Pinned views stay valid until released.
   */
  close() {
    this._n.close();
  }
}

module.exports = { Cache, ValueView, flightKey, ttlMs, TTL_DEFAULT };
