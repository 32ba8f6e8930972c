'use strict';
// The language-neutral conformance suite (tests/conformance/cases.json, its
// format in tests/conformance/README.md) against the Node package: one
// subtest per case, each step mapped to the Node idiom (undefined for a miss,
// add/replace returning false for exists/not_found, getRemainingTTL's 0 for
// a missing key and Infinity for no expiry, a thrown error's .code for
// {"error": NAME}). Values are raw bytes: written and read as Buffers.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Cache, FakeClock } = require('..');

const CASES_FILE = path.join(__dirname, '..', '..', '..', 'tests', 'conformance', 'cases.json');
const MANUAL_CLOCK_START_MS = 1_000_000;

// Cases this binding fails today, each a known binding bug (never a changed
// case): name -> the bug. Such a case must fail; when it passes, remove it.
const KNOWN_BINDING_BUGS = {};

function bytes(spec) {
  if (typeof spec === 'string') return Buffer.from(spec, 'utf8');
  if (spec && typeof spec.hex === 'string') return Buffer.from(spec.hex, 'hex');
  if (spec && typeof spec.repeat === 'string') return Buffer.from(spec.repeat.repeat(spec.times), 'utf8');
  throw new Error(`not a BYTES value: ${JSON.stringify(spec)}`);
}

// The C ABI's error name (CACHE_E_* without the prefix, lower case) of a thrown error.
function errorName(e) {
  if (e && typeof e.code === 'string') {
    if (e.code.startsWith('ERR_LIBCACHE_')) return e.code.slice('ERR_LIBCACHE_'.length).toLowerCase();
    // The binding's own argument checks, before the engine sees them.
    if (e.code === 'ERR_INVALID_ARG_TYPE' || e.code === 'ERR_OUT_OF_RANGE') return 'invalid';
  }
  throw e;
}

function open(options) {
  const opts = {};
  if (options.max_bytes !== undefined) opts.maxBytes = options.max_bytes;
  if (options.max_entries !== undefined) opts.maxEntries = options.max_entries;
  if (options.shards !== undefined) opts.shards = options.shards;
  if (options.default_ttl_ms !== undefined) opts.ttl = options.default_ttl_ms;
  if (options.policy !== undefined) opts.policy = options.policy;
  let clock = null;
  if (options.clock === 'manual') opts._clock = clock = new FakeClock(MANUAL_CLOCK_START_MS);
  return { cache: new Cache(opts), clock };
}

function ttlOptions(step) {
  return 'ttl_ms' in step ? { ttl: step.ttl_ms } : undefined;
}

function run(cache, clock, step) {
  const key = 'key' in step ? bytes(step.key) : Buffer.alloc(0);
  switch (step.op) {
    case 'set':
      cache.set(key, bytes(step.value), ttlOptions(step));
      return 'ok';
    case 'add':
      return cache.add(key, bytes(step.value), ttlOptions(step)) ? 'ok' : { error: 'exists' };
    case 'replace':
      return cache.replace(key, bytes(step.value), ttlOptions(step)) ? 'ok' : { error: 'not_found' };
    case 'get': {
      const v = cache.get(key);
      return v === undefined ? 'missing' : { value: v };
    }
    case 'has':
      return cache.has(key);
    case 'delete':
      return cache.delete(key);
    case 'take': {
      const v = cache.take(key);
      return v === undefined ? 'missing' : { value: v };
    }
    case 'touch':
      return cache.touch(key, step.ttl_ms);
    case 'ttl': {
      const ms = cache.getRemainingTTL(key);
      if (ms === 0) return 'missing'; // lru-cache's convention: an entry is gone at its deadline
      return ms === Infinity ? 'none' : { ms };
    }
    case 'clear':
      cache.clear();
      return 'ok';
    case 'purge_expired':
      return { count: cache.purgeExpired() };
    case 'advance':
      assert.ok(clock, 'advance needs a case with the manual clock');
      clock.advance(step.ms);
      return undefined;
    case 'stats': {
      const s = cache.stats();
      const got = {};
      for (const name of Object.keys(step.expect)) {
        if (name === 'bytes_at_most') got[name] = s.bytes <= step.expect[name] ? step.expect[name] : s.bytes;
        else got[name] = s[name];
      }
      return got;
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(step.op)}`);
  }
}

function expected(step) {
  const e = step.expect;
  if (e !== null && typeof e === 'object' && 'value' in e) return { value: bytes(e.value) };
  return e;
}

function describe(v) {
  const text = JSON.stringify(v, (k, x) =>
    x && x.type === 'Buffer' && Array.isArray(x.data) ? `<${x.data.length} bytes ${Buffer.from(x.data).toString('hex').slice(0, 40)}>` : x
  );
  return text === undefined ? String(v) : text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function runCase(c) {
  const options = c.open || {};
  if ('open_error' in c) {
    let err = null;
    try {
      open(options).cache.close();
    } catch (e) {
      err = e;
    }
    assert.ok(err, `case ${c.name}: open should fail with ${c.open_error}, but it succeeded`);
    assert.equal(errorName(err), c.open_error, `case ${c.name}: open threw ${err}`);
    return;
  }
  const { cache, clock } = open(options);
  try {
    c.steps.forEach((step, i) => {
      let got;
      try {
        got = run(cache, clock, step);
      } catch (e) {
        got = { error: errorName(e) };
      }
      if (step.op === 'advance') return;
      const want = expected(step);
      const { expect: _, ...args } = step;
      assert.deepEqual(
        got,
        want,
        `case ${c.name}, step ${i} (${step.op} ${describe(args)}): expected ${describe(want)}, got ${describe(got)}`
      );
    });
  } finally {
    cache.close();
  }
}

function loadCases(file) {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(doc.version, 1, `${file}: unknown format version ${doc.version}`);
  return doc.cases;
}

const cases = fs.existsSync(CASES_FILE) ? loadCases(CASES_FILE) : [];
test('the conformance file has cases', () => {
  assert.ok(cases.length > 0, `no cases in ${CASES_FILE}`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are unique');
});
for (const c of cases) {
  const bug = KNOWN_BINDING_BUGS[c.name];
  test(`conformance: ${c.name}`, () => {
    if (bug === undefined) return runCase(c);
    assert.throws(() => runCase(c), assert.AssertionError, `${c.name} passes now: remove it from KNOWN_BINDING_BUGS (${bug})`);
  });
}
