'use strict';
// libcache for Node.js: see README.md ("Using it from Node.js") and index.d.ts.
const native = require('./lib/native');
const errors = require('./lib/errors');
const { Cache, ValueView } = require('./lib/cache');

module.exports = {
  Cache,
  ValueView,
  /** Test-only: a manual clock for new Cache({ _clock }), starting at start ms. */
  FakeClock: native.FakeClock,
  /** The engine's version, "MAJOR.MINOR.PATCH". */
  version: native.version,
  ...Object.fromEntries(Object.entries(errors).filter(([, v]) => typeof v === 'function' && /Error$/.test(v.name))),
};
