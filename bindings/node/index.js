'use strict';
// libcache for Node.js: see README.md ("Using it from Node.js") and index.d.ts.
const native = require('./lib/native');
const errors = require('./lib/errors');
const { Cache, ValueView } = require('./lib/cache');
const { RedisStore } = require('./lib/redis');
const { SessionStore } = require('./lib/session');

module.exports = {
  Cache,
  ValueView,
  RedisStore,
  SessionStore,
  /** true when this build has the Redis adapter (hiredis was found). */
  hasRedis: native.hasRedis,
  /** Test-only: a manual clock for new Cache({ _clock }), starting at start ms. */
  FakeClock: native.FakeClock,
  /** The engine's version, "MAJOR.MINOR.PATCH". */
  version: native.version,
  ...Object.fromEntries(Object.entries(errors).filter(([, v]) => typeof v === 'function' && /Error$/.test(v.name))),
};
