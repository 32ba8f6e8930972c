'use strict';
// SessionStore: server-side sessions in a Cache, shared through Redis when the
// cache has a Redis store, in the SAME record format as the Python package's
// libcache.SessionStore (bindings/python/libcache/_session.py;
// docs/value-format.md), so that a Python and a Node service share sessions
// through one Redis:
//
//   key   <prefix><id>   (prefix default "session:"; the Redis store's prefix before it)
//   value tag 'b', then "S1:" <version> ":" JSON({"data": ..., "deadline": <epoch seconds>})
//
// Local (no Redis): the record lives in the cache; the JS thread makes each
// method atomic. Shared: Redis holds the truth: create is a write-through
// (setSync), save the same Lua script as Python's (SET only if the version
// is the one this store last saw), destroy a DEL; this cache's copy is
// dropped after each, and get() reads through (getAsync: on a worker thread).
// Times are ms here (Node's habit); the record's deadline is in seconds.
const crypto = require('node:crypto');
const errors = require('./errors');

const { typeError, rangeError } = errors;
const SID = /^[A-Za-z0-9_-]{43}$/;
const HEADER = /^S1:(0|[1-9][0-9]{0,17}):/;
const SKEW_S = 300; // seconds a stored deadline may exceed now + absoluteTtl (clock differences)
const SEEN_MAX = 1024;
const DEAD = Symbol('dead');

// Byte for byte Python's _SAVE (its SHA-1 is the same, so EVALSHA finds the
// script whichever binding loaded it first).
const SAVE_SCRIPT = `local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) ~= 'b' then return -1 end
local v = string.match(cur, '^bS1:(%d+):') or '0'
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 1
`;
const SAVE_SHA = crypto.createHash('sha1').update(SAVE_SCRIPT).digest('hex');

function notFound() {
  return new errors.LibcacheError('unknown or expired session', 'ERR_LIBCACHE_NOT_FOUND');
}

function positiveMs(v, name, dflt) {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw typeError(`options.${name} must be a number of ms, not ${typeof v}`);
  if (!(v > 0) || !Number.isFinite(v)) throw rangeError(`options.${name} must be > 0 ms; got ${v}`);
  return v;
}

class SessionStore {
  /**
   * @param {Cache} cache where sessions live (with a Redis store: shared).
   * @param {object} [options] idleTtl (ms, default 30 min), absoluteTtl (ms,
   *   default 24 h), prefix ("session:"), clock (() => epoch ms, Date.now),
   *   refreshFraction (0.25), timeout (ms Redis may take, 1000)
   */
  constructor(cache, options = {}) {
    const { Cache } = require('./cache');
    if (!(cache instanceof Cache)) throw typeError('cache must be a libcache Cache');
    if (options === null || typeof options !== 'object') throw typeError('options must be an object');
    this._cache = cache;
    this._idle = positiveMs(options.idleTtl, 'idleTtl', 1800e3);
    this._absolute = positiveMs(options.absoluteTtl, 'absoluteTtl', 86400e3);
    this._timeout = positiveMs(options.timeout, 'timeout', 1000);
    this._prefix = options.prefix === undefined ? 'session:' : options.prefix;
    if (typeof this._prefix !== 'string') throw typeError('options.prefix must be a string');
    this._clock = options.clock === undefined ? Date.now : options.clock;
    if (typeof this._clock !== 'function') throw typeError('options.clock must be a function returning epoch ms');
    const f = options.refreshFraction === undefined ? 0.25 : options.refreshFraction;
    if (typeof f !== 'number' || !(f >= 0 && f < 1)) throw rangeError('options.refreshFraction must be >= 0 and < 1');
    this._fraction = f;
    this._seen = new Map(); // key -> the version this store last read or wrote
  }

  /** true when the sessions live in Redis (the cache has an open Redis store). */
  get shared() {
    return this._redis() !== null;
  }

  _redis() {
    const rs = this._cache._redis;
    if (rs === null) return null;
    if (rs.closed)
      throw errors.makeError(-8, "the cache's Redis store is closed: its sessions are shared through Redis, and this process alone cannot serve them");
    if (!rs.coherence)
      throw new errors.LibcacheError('a SessionStore over Redis needs the store\'s readThrough and coherence on (the defaults)', 'ERR_LIBCACHE_INVALID');
    return rs;
  }

  _key(sid) {
    return typeof sid === 'string' && SID.test(sid) ? this._prefix + sid : null;
  }

  _remember(key, version) {
    this._seen.delete(key);
    if (version === undefined) return;
    this._seen.set(key, version);
    if (this._seen.size > SEEN_MAX) this._seen.delete(this._seen.keys().next().value);
  }

  _encode(data, deadlineS, version) {
    let json;
    try {
      json = JSON.stringify({ data, deadline: deadlineS });
    } catch (e) {
      const err = errors.makeError(-1000, `the session data could not be encoded as JSON: ${e.message}`);
      err.cause = e;
      throw err;
    }
    return Buffer.from(`S1:${version}:${json}`, 'utf8');
  }

  // {data, deadline (s), version} of a live record; DEAD for a dead one; null if raw is not one.
  _parse(raw, nowS) {
    if (!Buffer.isBuffer(raw)) return null;
    const text = raw.toString('utf8');
    const m = HEADER.exec(text);
    const version = m ? Number(m[1]) : 0;
    let record;
    try {
      record = JSON.parse(m ? text.slice(m[0].length) : text);
    } catch {
      return null;
    }
    if (record === null || typeof record !== 'object' || !('data' in record) || !('deadline' in record)) return null;
    const d = record.deadline;
    if (typeof d !== 'number' || !Number.isFinite(d)) return DEAD;
    if (d > nowS + this._absolute / 1000 + SKEW_S || d <= nowS) return DEAD;
    return { data: record.data, deadline: d, version };
  }

  _ttlMs(leftS) {
    return Math.max(1, Math.ceil(Math.min(this._idle, leftS * 1000)));
  }

  _expiryMs(nowS, leftS) {
    return Math.floor((nowS + Math.min(this._idle / 1000, leftS)) * 1000);
  }

  async _load(key, rs) {
    const nowS = this._clock() / 1000;
    const raw = rs === null ? this._cache.get(key) : await this._cache.getAsync(key);
    const parsed = this._parse(raw, nowS);
    if (parsed === DEAD) {
      if (rs === null) this._cache.delete(key);
      else if (!this._expired(raw, nowS)) await this._deleteInRedis(rs, key).catch(() => {});
      return null;
    }
    if (parsed === null) return null;
    return { ...parsed, left: parsed.deadline - nowS };
  }

  _expired(raw, nowS) {
    try {
      const text = raw.toString('utf8');
      const m = HEADER.exec(text);
      const d = JSON.parse(m ? text.slice(m[0].length) : text).deadline;
      return typeof d === 'number' && Number.isFinite(d) && d <= nowS;
    } catch {
      return false;
    }
  }

  _rkey(rs, key) {
    return Buffer.concat([rs.prefix, Buffer.from(key, 'utf8')]);
  }

  async _command(rs, args) {
    try {
      return await rs.command(args, this._timeout);
    } catch (e) {
      if (e instanceof errors.RedisReplyError) throw new errors.BackendError(`Redis refused ${args[0]}: ${e.message}`, 'ERR_LIBCACHE_IO');
      throw e;
    }
  }

  async _deleteInRedis(rs, key) {
    const n = await this._command(rs, ['DEL', this._rkey(rs, key)]);
    rs.invalidate(key);
    return n;
  }

  /** Starts a session holding data; resolves to its new id (43 URL-safe characters). */
  async create(data) {
    const rs = this._redis();
    const deadlineS = (this._clock() + this._absolute) / 1000;
    const value = this._encode(data, deadlineS, 1);
    const ttl = this._ttlMs(this._absolute / 1000);
    let sid;
    if (rs === null) {
      do sid = crypto.randomBytes(32).toString('base64url');
      while (!this._cache.add(this._prefix + sid, value, { ttl }));
    } else {
      sid = crypto.randomBytes(32).toString('base64url');
      await rs.setSync(this._prefix + sid, value, { ttl }, this._timeout);
    }
    this._remember(this._prefix + sid, 1);
    return sid;
  }

  /** The session's data (its idle timeout refreshed), or undefined for an unknown or expired id. */
  async get(sid) {
    const key = this._key(sid);
    if (key === null) return undefined;
    const rs = this._redis();
    const loaded = await this._load(key, rs);
    if (loaded === null) return undefined;
    this._remember(key, loaded.version);
    const want = this._ttlMs(loaded.left);
    if (rs === null) {
      this._cache.touch(key, want);
      return loaded.data;
    }
    const left = this._cache.getRemainingTTL(key); // the idle deadline as Redis gave it (0: not kept)
    if (left > 0 && left !== Infinity && want - left > this._fraction * this._idle) {
      try {
        await rs.command(['PEXPIREAT', this._rkey(rs, key), this._expiryMs(this._clock() / 1000, loaded.left)], Math.min(this._timeout, 100));
        rs.invalidate(key);
      } catch {
        // the session stays live until its current deadline; a later get tries again
      }
    }
    return loaded.data;
  }

  /**
   * Replaces the session's data. Rejects with ERR_LIBCACHE_NOT_FOUND for an
   * unknown or expired id, and with SessionConflictError if it was saved
   * elsewhere since this store last read it (nothing written).
   */
  async save(sid, data) {
    const key = this._key(sid);
    const rs = this._redis();
    if (key === null) throw notFound();
    let loaded = await this._load(key, rs);
    if (loaded === null && rs !== null) {
      const raw = await this._command(rs, ['GET', this._rkey(rs, key)]);
      if (Buffer.isBuffer(raw) && raw[0] === 0x62) {
        const nowS = this._clock() / 1000;
        const p = this._parse(raw.subarray(1), nowS);
        if (p !== null && p !== DEAD) loaded = { ...p, left: p.deadline - nowS };
      }
    }
    if (loaded === null) throw notFound();
    const seen = this._seen.get(key);
    const expected = seen === undefined ? loaded.version : seen;
    const value = this._encode(data, loaded.deadline, expected + 1);
    if (rs === null) {
      const raw = this._cache.get(key);
      if (!Buffer.isBuffer(raw)) throw notFound();
      const m = HEADER.exec(raw.toString('latin1'));
      if ((m ? Number(m[1]) : 0) !== expected) throw this._conflict(key);
      if (!this._cache.replace(key, value, { ttl: this._ttlMs(loaded.left) })) throw notFound();
    } else {
      const args = [this._rkey(rs, key)];
      const argv = [String(expected), Buffer.concat([Buffer.from('b'), value]), this._expiryMs(this._clock() / 1000, loaded.left)];
      let outcome;
      try {
        try {
          outcome = await rs.command(['EVALSHA', SAVE_SHA, 1, ...args, ...argv], this._timeout);
        } catch (e) {
          if (!(e instanceof errors.RedisReplyError) || !e.message.startsWith('NOSCRIPT')) throw e;
          outcome = await rs.command(['EVAL', SAVE_SCRIPT, 1, ...args, ...argv], this._timeout);
        }
      } catch (e) {
        if (e instanceof errors.RedisReplyError) throw new errors.BackendError(`Redis refused the session script: ${e.message}`, 'ERR_LIBCACHE_IO');
        throw e;
      } finally {
        if (!rs.closed) rs.invalidate(key);
      }
      if (outcome === 0) throw this._conflict(key);
      if (outcome !== 1) throw notFound();
    }
    this._remember(key, expected + 1);
  }

  _conflict(key) {
    return new errors.SessionConflictError(
      `session ${key.slice(this._prefix.length, this._prefix.length + 6)}...: saved elsewhere since this store read it; nothing was written. get() it again, reapply your change, and save() again`,
      'ERR_LIBCACHE_SESSION_CONFLICT'
    );
  }

  /** Ends the session; resolves to true if it existed. */
  async destroy(sid) {
    const key = this._key(sid);
    const rs = this._redis();
    if (key === null) return false;
    this._remember(key, undefined);
    if (rs === null) return this._cache.delete(key);
    return (await this._deleteInRedis(rs, key)) > 0;
  }
}

module.exports = { SessionStore, SAVE_SCRIPT };
