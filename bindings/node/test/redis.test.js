'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('..');
const { Cache, SessionStore } = lib;
const { RedisServer, REDIS_SERVER } = require('./redis-server');

const skip = !lib.hasRedis ? 'built without the Redis adapter' : REDIS_SERVER === null ? 'needs redis-server (Debian: redis-server)' : false;

test('Redis tier', { skip }, async (t) => {
  const server = await new RedisServer().start();
  t.after(() => server.stop());

  await t.test('writes reach Redis with the type tag; flush, stats, command are promises', async () => {
    const c = new Cache({ maxBytes: 1 << 20 });
    const rs = c.attachRedis(server.url, { prefix: 'n1:' });
    assert.equal(c.redis, rs);
    c.set('s', 'text', { ttl: 60000 });
    c.set('b', Buffer.from([0, 1]));
    const p = rs.flush(2000);
    assert.ok(p instanceof Promise);
    await p;
    assert.deepEqual(await rs.command(['GET', 'n1:s']), Buffer.from('stext'));
    assert.deepEqual(await rs.command(['GET', 'n1:b']), Buffer.from([0x62, 0, 1]));
    const pttl = await rs.command(['PTTL', 'n1:s']);
    assert.ok(pttl > 59000 && pttl <= 60000, String(pttl));
    assert.equal(await rs.command(['GET', 'n1:absent']), null);
    await assert.rejects(rs.command(['NOSUCHCOMMAND']), (e) => e instanceof lib.RedisReplyError);
    const st = await rs.stats();
    assert.ok(st.flushedOps >= 2, JSON.stringify(st));
    assert.equal(st.coherence, 1);
    assert.equal(await rs.close(1000), 0);
    assert.equal(rs.closed, true);
    await assert.rejects(rs.flush(), lib.CacheClosedError);
    assert.equal(c.get('s'), 'text', 'the cache goes on without Redis');
    c.close();
  });

  await t.test('two caches share through Redis: read-through, coherence, getAsync', async () => {
    const a = new Cache();
    const b = new Cache();
    const ra = a.attachRedis(server.url, { prefix: 'n2:' });
    const rb = b.attachRedis(server.url, { prefix: 'n2:' });
    a.set('k', 'one');
    await ra.flush(2000);
    assert.equal(await b.getAsync('k'), 'one');
    assert.equal(b.get('k'), 'one');
    a.set('k', 'two');
    await ra.flush(2000);
    let seen;
    for (let i = 0; i < 200 && seen !== 'two'; i++) {
      seen = await b.getAsync('k');
      if (seen !== 'two') await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(seen, 'two', 'the other cache stops serving its old copy');
    assert.equal(await b.getAsync('absent'), undefined);
    a.close(); // closes its adapter too
    await rb.close();
    b.close();
  });

  await t.test('bad URLs and closed caches reject cleanly', async () => {
    const c = new Cache();
    assert.throws(() => c.attachRedis('http://nope'), (e) => e instanceof lib.LibcacheError && e.code === 'ERR_LIBCACHE_INVALID');
    assert.throws(() => c.attachRedis(`redis://127.0.0.1:1/0`, { connectTimeout: 200 }), { code: 'ERR_LIBCACHE_IO' });
    assert.throws(() => c.attachRedis(42), TypeError);
    assert.throws(() => c.attachRedis(server.url, { nope: 1 }), TypeError);
    const rs = c.attachRedis(server.url, { prefix: 'n3:' });
    const pending = rs.flush(1000);
    const stats = rs.stats();
    c.close(); // while workers run: the engine's cache closes when they end
    await pending.catch(() => {});
    await stats.catch(() => {});
    await assert.rejects(rs.flush(), lib.CacheClosedError);
    assert.equal(await rs.close(), 0);
    await assert.rejects(c.getAsync('k'), lib.CacheClosedError);
  });

  await t.test('SessionStore over Redis: create, get, save, conflict, destroy; shared by two stores', async () => {
    const a = new Cache();
    const b = new Cache();
    a.attachRedis(server.url, { prefix: 'n4:' });
    b.attachRedis(server.url, { prefix: 'n4:' });
    const sa = new SessionStore(a, { idleTtl: 60000 });
    const sb = new SessionStore(b, { idleTtl: 60000 });
    assert.equal(sa.shared, true);
    const sid = await sa.create({ user: 'ada', n: 1 });
    assert.match(sid, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await sb.get(sid), { user: 'ada', n: 1 });
    await sb.save(sid, { user: 'ada', n: 2 });
    await assert.rejects(sa.save(sid, { user: 'ada', n: 3 }), lib.SessionConflictError); // sa saw version 1
    assert.deepEqual(await sa.get(sid), { user: 'ada', n: 2 });
    await sa.save(sid, { user: 'ada', n: 3 });
    assert.deepEqual(await sb.get(sid), { user: 'ada', n: 3 });
    assert.equal(await sb.get('x'.repeat(43)), undefined);
    assert.equal(await sb.get('bad id'), undefined);
    await assert.rejects(sb.save('x'.repeat(43), {}), { code: 'ERR_LIBCACHE_NOT_FOUND' });
    assert.equal(await sb.destroy(sid), true);
    assert.equal(await sa.get(sid), undefined);
    a.close();
    b.close();
  });
});

test('SessionStore without Redis', async () => {
  let now = 1_700_000_000_000;
  const c = new Cache();
  const s = new SessionStore(c, { idleTtl: 1000, absoluteTtl: 5000, clock: () => now });
  assert.equal(s.shared, false);
  const sid = await s.create({ a: 1 });
  assert.deepEqual(await s.get(sid), { a: 1 });
  const raw = c.get('session:' + sid);
  assert.ok(Buffer.isBuffer(raw));
  assert.match(raw.toString(), /^S1:1:\{"data":\{"a":1\},"deadline":1700000005\}$/);
  await s.save(sid, { a: 2 });
  assert.match(c.get('session:' + sid).toString(), /^S1:2:/);
  now += 6000; // past the absolute deadline
  assert.equal(await s.get(sid), undefined);
  assert.equal(c.has('session:' + sid), false);
  await assert.rejects(s.save(sid, {}), { code: 'ERR_LIBCACHE_NOT_FOUND' });
  const sid2 = await s.create('x');
  assert.equal(await s.destroy(sid2), true);
  assert.equal(await s.destroy(sid2), false);
  assert.throws(() => new SessionStore({}), TypeError);
  assert.throws(() => new SessionStore(c, { idleTtl: -1 }), RangeError);
  c.close();
});
