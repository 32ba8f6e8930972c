'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('..');
const { Cache, FakeClock } = lib;

function open(opts) {
  return new Cache({ maxBytes: 1 << 20, ...opts });
}

test('get, set, has, delete; a miss is undefined', () => {
  const c = open();
  assert.equal(c.get('k'), undefined);
  assert.equal(c.set('k', 'v'), c, 'set returns this');
  assert.equal(c.get('k'), 'v');
  assert.equal(c.has('k'), true);
  assert.equal(c.delete('k'), true);
  assert.equal(c.delete('k'), false);
  assert.equal(c.has('k'), false);
  c.close();
});

test('values keep their type: Buffer and string apart, bytes exact', () => {
  const c = open();
  const bin = Buffer.from([0, 255, 10, 0, 7]);
  c.set('b', bin);
  c.set('s', 'héllo ✓');
  c.set('e', '');
  c.set('eb', Buffer.alloc(0));
  c.set('u8', new Uint8Array([1, 2, 3]));
  assert.ok(Buffer.isBuffer(c.get('b')));
  assert.deepEqual(c.get('b'), bin);
  assert.equal(c.get('s'), 'héllo ✓');
  assert.equal(c.get('e'), '');
  assert.deepEqual(c.get('eb'), Buffer.alloc(0));
  assert.deepEqual(c.get('u8'), Buffer.from([1, 2, 3]));
  const got = c.get('b');
  got[0] = 42; // a copy: the cache keeps its own bytes
  assert.deepEqual(c.get('b'), bin);
  c.close();
});

test('a string key and a Buffer key with its UTF-8 bytes are the same key', () => {
  const c = open();
  c.set('ключ', 'v');
  assert.equal(c.get(Buffer.from('ключ')), 'v');
  c.set(Buffer.from([0xff, 0x00]), 'raw');
  assert.equal(c.get(Buffer.from([0xff, 0x00])), 'raw');
  assert.equal(c.get(''), undefined);
  c.set('', 'empty key');
  assert.equal(c.get(''), 'empty key');
  c.close();
});

test('add and replace', () => {
  const c = open();
  assert.equal(c.replace('k', 'a'), false);
  assert.equal(c.add('k', 'a'), true);
  assert.equal(c.add('k', 'b'), false);
  assert.equal(c.get('k'), 'a');
  assert.equal(c.replace('k', 'c'), true);
  assert.equal(c.get('k'), 'c');
  c.close();
});

test('take removes and returns', () => {
  const c = open();
  c.set('k', Buffer.from('v'));
  assert.deepEqual(c.take('k'), Buffer.from('v'));
  assert.equal(c.take('k'), undefined);
  assert.equal(c.stats().deletes, 1);
  c.close();
});

test('TTLs on a manual clock: expiry, touch, getRemainingTTL, default ttl', () => {
  const clock = new FakeClock(1_000_000);
  assert.equal(clock.now, 1_000_000);
  const c = open({ _clock: clock, ttl: 500 });
  c.set('d', 'default ttl');
  c.set('t', 'x', { ttl: 100 });
  c.set('n', 'y', { ttl: 0 });
  c.set('i', 'z', { ttl: Infinity });
  assert.equal(c.getRemainingTTL('t'), 100);
  assert.equal(c.getRemainingTTL('d'), 500);
  assert.equal(c.getRemainingTTL('n'), Infinity);
  assert.equal(c.getRemainingTTL('i'), Infinity);
  assert.equal(c.getRemainingTTL('absent'), 0);
  clock.advance(99);
  assert.equal(c.get('t'), 'x');
  clock.advance(1);
  assert.equal(c.get('t'), undefined);
  assert.equal(c.touch('d', 1000), true);
  assert.equal(c.touch('t', 1000), false);
  clock.advance(900);
  assert.equal(c.get('d'), 'default ttl');
  assert.equal(c.getRemainingTTL('d'), 100);
  assert.equal(c.touch('d', 0), true);
  assert.equal(c.getRemainingTTL('d'), Infinity);
  c.set('p', 'q', { ttl: 1 });
  clock.advance(5);
  assert.equal(c.purgeExpired(), 1);
  c.set('f', 'fraction', { ttl: 0.2 }); // rounds up to 1 ms, not 0 (never)
  assert.equal(c.getRemainingTTL('f'), 1);
  c.close();
});

test('bounds: maxEntries evicts, a too-large value throws TooLargeError and keeps the old one', () => {
  const c = new Cache({ maxEntries: 10, shards: 1 });
  for (let i = 0; i < 100; i++) c.set(`k${i}`, 'v');
  const s = c.stats();
  assert.ok(s.entries <= 10, `${s.entries} entries`);
  assert.ok(s.evictions >= 90);
  c.close();
  const small = new Cache({ maxBytes: 64 * 1024, shards: 1 });
  small.set('big', 'old');
  assert.throws(() => small.set('big', Buffer.alloc(1 << 20)), (e) => {
    assert.ok(e instanceof lib.TooLargeError);
    assert.ok(e instanceof lib.LibcacheError);
    assert.equal(e.code, 'ERR_LIBCACHE_TOO_LARGE');
    assert.equal(e.status, -3);
    return true;
  });
  assert.equal(small.get('big'), 'old');
  assert.throws(() => small.set('x'.repeat(70000), 'v'), { code: 'ERR_LIBCACHE_TOO_LARGE' });
  assert.equal(small.get('x'.repeat(70000)), undefined, 'a read of a too-long key is a miss');
  small.close();
});

test('policy option', () => {
  const a = new Cache({ policy: 'adaptive', maxEntries: 50 });
  assert.equal(a.policy, 'adaptive');
  for (let i = 0; i < 500; i++) a.set(String(i), 'v');
  assert.ok(a.stats().entries <= 50);
  a.close();
  assert.equal(new Cache().policy, 'clock');
});

test('stats and size', () => {
  const c = open();
  c.set('a', 'x');
  c.get('a');
  c.get('b');
  const s = c.stats();
  assert.deepEqual(
    { hits: s.hits, misses: s.misses, sets: s.sets, entries: s.entries },
    { hits: 1, misses: 1, sets: 1, entries: 1 }
  );
  assert.ok(s.bytes > 0);
  assert.equal(c.size, 1);
  c.clear();
  assert.equal(c.size, 0);
  c.close();
});

test('codec "json" stores other values; strings and Buffers stay themselves', () => {
  const c = open({ codec: 'json' });
  c.set('o', { a: [1, 2, { b: null }], s: 'x' });
  c.set('n', 42.5);
  c.set('t', true);
  c.set('z', null);
  c.set('s', 'plain');
  c.set('b', Buffer.from('bytes'));
  assert.deepEqual(c.get('o'), { a: [1, 2, { b: null }], s: 'x' });
  assert.equal(c.get('n'), 42.5);
  assert.equal(c.get('t'), true);
  assert.equal(c.get('z'), null);
  assert.equal(c.get('s'), 'plain');
  assert.deepEqual(c.get('b'), Buffer.from('bytes'));
  assert.throws(() => c.set('u', undefined), TypeError);
  assert.throws(() => c.set('f', () => 1), TypeError);
  assert.throws(() => c.set('big', 10n), { code: 'ERR_LIBCACHE_CODEC' });
  const cyc = {};
  cyc.self = cyc;
  assert.throws(() => c.set('cyc', cyc), lib.CodecError);
  c.close();
});

test('without a codec: other values are a TypeError; codec values read back raise CodecError', () => {
  const c = open();
  for (const v of [1, true, null, undefined, {}, [], 1n, Symbol('s')])
    assert.throws(() => c.set('k', v), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  c.close();
});

test('bad arguments: TypeError / RangeError, never a crash', () => {
  const c = open();
  for (const k of [undefined, null, 1, {}, [], true, Symbol('x'), new Uint16Array(2)])
    assert.throws(() => c.get(k), TypeError);
  assert.throws(() => c.set(1, 'v'), TypeError);
  assert.throws(() => c.set('k', 'v', { ttl: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => c.set('k', 'v', { ttl: NaN }), RangeError);
  assert.throws(() => c.set('k', 'v', { ttl: '5' }), TypeError);
  assert.throws(() => c.set('k', 'v', 5), TypeError);
  assert.throws(() => c.touch('k', -5), RangeError);
  assert.throws(() => new Cache({ maxBytes: -1 }), RangeError);
  assert.throws(() => new Cache({ maxBytes: 1.5 }), RangeError);
  assert.throws(() => new Cache({ maxBytes: '1' }), TypeError);
  assert.throws(() => new Cache({ maxbytes: 1 }), TypeError, 'a misspelt option is refused');
  assert.throws(() => new Cache({ policy: 'lru' }), RangeError);
  assert.throws(() => new Cache({ codec: 'pickle' }), RangeError);
  assert.throws(() => new Cache({ _clock: {} }), TypeError);
  assert.throws(() => new Cache(null), TypeError);
  assert.throws(() => new Cache({ shards: 3 }), { code: 'ERR_LIBCACHE_INVALID' });
  assert.throws(() => new Cache({ maxBytes: 0 }), { code: 'ERR_LIBCACHE_INVALID' });
  assert.throws(() => new Cache({ maxBytes: Number.MAX_SAFE_INTEGER, maxEntries: 2 ** 52 }), lib.LibcacheError);
  assert.throws(() => new FakeClock(-1), RangeError);
  assert.throws(() => new FakeClock(0).advance(-1), RangeError);
  // a huge value is refused cleanly
  assert.throws(() => c.set('huge', Buffer.alloc(64 << 20)), { code: 'ERR_LIBCACHE_TOO_LARGE' });
  assert.equal(c.get('k'), undefined);
  c.close();
});

test('a closed cache throws CacheClosedError from every method; close twice is fine', async () => {
  const c = open();
  c.set('k', 'v');
  const view = c.getView('k');
  c.close();
  c.close();
  assert.equal(c.closed, true);
  const calls = [
    () => c.get('k'), () => c.set('k', 'v'), () => c.add('k', 'v'), () => c.has('k'),
    () => c.delete('k'), () => c.take('k'), () => c.touch('k', 1), () => c.getRemainingTTL('k'),
    () => c.clear(), () => c.stats(), () => c.getView('k'), () => c.purgeExpired(), () => c.size,
  ];
  for (const call of calls)
    assert.throws(call, (e) => e instanceof lib.CacheClosedError && e.code === 'ERR_LIBCACHE_CLOSED');
  await assert.rejects(c.fetch('k', () => 'v'), lib.CacheClosedError);
  // a view pinned before close stays valid until released
  assert.equal(view.buffer.toString(), 'v');
  view.release();
});

test('getView: zero-copy, valid after the entry changes, detached on release', () => {
  const c = open();
  c.set('k', Buffer.from('first'));
  const v = c.getView('k');
  assert.equal(v.type, 'bytes');
  assert.equal(v.buffer.toString(), 'first');
  c.set('k', 'second'); // the view keeps the old bytes
  c.delete('k');
  assert.equal(v.buffer.toString(), 'first');
  assert.equal(v.release(), true);
  assert.equal(v.release(), false);
  assert.equal(v.buffer.length, 0, 'released: no bytes left to read');
  assert.equal(c.getView('absent'), undefined);
  c.set('s', 'text');
  const s = c.getView('s');
  assert.equal(s.type, 'string');
  assert.equal(s.buffer.toString('utf8'), 'text');
  s.release();
  // many views released explicitly: nothing accumulates
  c.set('big', Buffer.alloc(64 * 1024, 1));
  for (let i = 0; i < 20000; i++) c.getView('big').release();
  c.close();
});

test('fetch: single flight, stores the result, errors not stored', async () => {
  const c = open();
  let calls = 0;
  const loader = async (key) => {
    calls++;
    await new Promise((r) => setTimeout(r, 20));
    return `loaded:${key}`;
  };
  const all = await Promise.all([c.fetch('k', loader), c.fetch('k', loader), c.fetch(Buffer.from('k'), loader)]);
  assert.deepEqual(all, ['loaded:k', 'loaded:k', 'loaded:k']);
  assert.equal(calls, 1);
  assert.equal(c.get('k'), 'loaded:k');
  assert.equal(await c.fetch('k', loader), 'loaded:k');
  assert.equal(calls, 1, 'a hit does not load');

  const boom = new Error('boom');
  await assert.rejects(Promise.all([c.fetch('e', async () => { throw boom; }), c.fetch('e', () => 'never')]), boom);
  assert.equal(c.get('e'), undefined);
  assert.equal(await c.fetch('e', () => 'second try'), 'second try');

  assert.equal(await c.fetch('u', () => undefined), undefined);
  assert.equal(c.has('u'), false);
  await assert.rejects(c.fetch('bad', () => 5), TypeError); // no codec: not storable
  await assert.rejects(c.fetch('x', 'not a function'), TypeError);
  await assert.rejects(c.fetch({}, () => 'v'), TypeError);

  const clock = new FakeClock(1000);
  const t = new Cache({ _clock: clock });
  await t.fetch('k', () => 'v', { ttl: 50 });
  assert.equal(t.getRemainingTTL('k'), 50);
  t.close();
  c.close();
});

test('fetch: a loader that fetches its own key rejects instead of waiting forever', async () => {
  const c = open();
  const p = c.fetch('k', () => c.fetch('k', () => 'inner'));
  await assert.rejects(p, (e) => e instanceof lib.ReentrantLoadError && e.code === 'ERR_LIBCACHE_REENTRANT_LOAD');
  // a loader may fetch other keys, and use the cache
  const v = await c.fetch('a', async () => {
    c.set('side', 'effect');
    return `${await c.fetch('b', () => 'B')}+A`;
  });
  assert.equal(v, 'B+A');
  assert.equal(c.get('b'), 'B');
  // a loader that closes the cache: the result is returned, not stored, no crash
  const d = open();
  assert.equal(await d.fetch('k', () => { d.close(); return 'v'; }), 'v');
  c.close();
});

test('the addon exports only Node-API entry points', () => {
  const { execFileSync } = require('node:child_process');
  const path = require('node:path');
  let out;
  try {
    out = execFileSync('nm', ['-D', '--defined-only', path.join(__dirname, '..', 'build', 'Release', 'libcache.node')], { encoding: 'utf8' });
  } catch {
    return; // no nm: nothing to check
  }
  const names = out.trim().split('\n').map((l) => l.split(' ').pop()).sort();
  assert.deepEqual(names, ['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
});

test('version', () => {
  assert.match(lib.version, /^\d+\.\d+\.\d+$/);
  assert.equal(lib.version, require('../package.json').version);
});
