'use strict';
// RedisStore: a cache's Redis tier (Cache#attachRedis), over libcache::redis
// (<libcache/cache_redis.h>): write-behind of every local write, read-through
// of misses, near-cache coherence. Its flush, stats, command, setSync and
// close run on libuv's worker threads (src/redis.cc) and return Promises:
// none blocks the event loop.
const { typeError, rangeError } = require('./errors');

function msOption(options, name, dflt) {
  const v = options[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw typeError(`options.${name} must be a number of ms, not ${typeof v}`);
  if (!Number.isInteger(v) || v < 0 || v > 2 ** 40) throw rangeError(`options.${name} must be an integer >= 0 ms; got ${v}`);
  return v;
}

function timeoutArg(v, dflt) {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw typeError(`timeout must be a number of ms, not ${typeof v}`);
  if (v === Infinity) return -1;
  if (!(v >= 0)) throw rangeError(`timeout must be >= 0 ms; got ${v}`);
  return Math.ceil(v);
}

const REDIS_OPTIONS = new Set(['prefix', 'connectTimeout', 'commandTimeout', 'coherence', 'readThrough', 'loadTimeout', 'flushInterval']);

class RedisStore {
  constructor(cache, url, options = {}) {
    if (typeof url !== 'string') throw typeError(`url must be a string like "redis://127.0.0.1:6379/0", not ${typeof url}`);
    if (options === null || typeof options !== 'object') throw typeError('options must be an object');
    for (const name of Object.keys(options)) if (!REDIS_OPTIONS.has(name)) throw typeError(`unknown option ${JSON.stringify(name)}`);
    const prefix = options.prefix === undefined ? Buffer.alloc(0) : options.prefix;
    if (typeof prefix !== 'string' && !(prefix instanceof Uint8Array)) throw typeError('options.prefix must be a string or a Buffer');
    for (const name of ['coherence', 'readThrough'])
      if (options[name] !== undefined && typeof options[name] !== 'boolean') throw typeError(`options.${name} must be a boolean`);
    const coherence = options.coherence !== false;
    const readThrough = options.readThrough !== false;
    const connect = msOption(options, 'connectTimeout', 1000) || 1;
    const command = msOption(options, 'commandTimeout', 1000) || 1;
    this._cache = cache;
    this._h = cache._n.attachRedis(
      url, prefix, connect, command, coherence, readThrough,
      msOption(options, 'loadTimeout', 100) || 1, msOption(options, 'flushInterval', 5)
    );
    /** The prefix of every key in Redis (a key k of the cache is prefix + k there). */
    this.prefix = Buffer.from(prefix);
    /** Whether reads of missing keys go to Redis, and local copies follow Redis's changes. */
    this.readThrough = readThrough;
    this.coherence = coherence && readThrough;
    this.commandTimeout = command;
  }

  /** true once close() was called (or the cache was closed). */
  get closed() {
    return this._h.closed();
  }

  _call(fn) {
    try {
      return fn();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Resolves once every write made before the call reached Redis (rejects with TimeoutError after timeout ms). */
  flush(timeout) {
    return this._call(() => this._h.flush(timeoutArg(timeout, -1)));
  }

  /** The adapter's counters (write-behind queue, read-through, connections, coherence). */
  stats() {
    return this._call(() => this._h.stats());
  }

  /**
   * One command on a pooled connection: args are strings, Buffers or numbers,
   * keys given whole (add this.prefix yourself). Resolves to null, a number,
   * or a Buffer (a string or status reply; an array reply gives its length);
   * an error reply rejects with RedisReplyError.
   */
  command(args, timeout) {
    return this._call(() => {
      if (!Array.isArray(args) || args.length === 0) throw typeError('args must be a non-empty array');
      const argv = args.map((a) => (typeof a === 'number' ? String(a) : a));
      return this._h.command(argv, timeoutArg(timeout, 0));
    });
  }

  /** Write-through: resolves once Redis has key = value (then the cache has it too). */
  setSync(key, value, options = {}, timeout) {
    return this._call(() => {
      const ttl = options.ttl === undefined ? -1 : options.ttl === Infinity ? 0 : Math.ceil(options.ttl);
      if (!(ttl >= -1)) throw rangeError('options.ttl must be >= 0 ms');
      return this._h.setSync(key, value, ttl, timeoutArg(timeout, this.commandTimeout));
    });
  }

  /** This cache stops serving its copy of key (after changing it in Redis with command()). */
  invalidate(key) {
    this._h.invalidate(key);
  }

  /**
   * Flushes up to timeout ms (default 1000), then closes the adapter; the
   * cache goes on without Redis. Resolves to the number of writes not flushed.
   */
  close(timeout) {
    return this._call(() => this._h.close(timeoutArg(timeout, 1000)));
  }

  _cacheClosing() {}
}

module.exports = { RedisStore, timeoutArg };
