'use strict';
// Python and Node.js through one Redis: the Python package writes bytes, a
// str, a JSON codec value and a session, and this package reads them; this
// package writes the same kinds, and Python reads them (docs/value-format.md).
// Python is ../../.venv/bin/python (or $LIBCACHE_PYTHON) with the package of
// this tree on PYTHONPATH (../../build-py/site, as scripts/test.sh builds it,
// or $LIBCACHE_PYTHONPATH); skipped when it cannot import libcache.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const lib = require('..');
const { Cache, SessionStore } = lib;
const { RedisServer, REDIS_SERVER } = require('./redis-server');

const ROOT = path.join(__dirname, '..', '..', '..');
const PYTHON = process.env.LIBCACHE_PYTHON || path.join(ROOT, '.venv', 'bin', 'python');
const PYTHONPATH = process.env.LIBCACHE_PYTHONPATH || path.join(ROOT, 'build-py', 'site');

function python(code, args = []) {
  const env = { ...process.env };
  if (fs.existsSync(PYTHONPATH)) env.PYTHONPATH = PYTHONPATH;
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', env, timeout: 60000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

function pythonReady() {
  if (!fs.existsSync(PYTHON)) return `no Python at ${PYTHON}`;
  try {
    python('import libcache; assert libcache.Cache');
    return false;
  } catch (e) {
    return `the Python package does not import: ${e.message.split('\n').slice(-2).join(' ')}`;
  }
}

const skip = !lib.hasRedis ? 'built without the Redis adapter' : REDIS_SERVER === null ? 'needs redis-server' : pythonReady();
// scripts/test.sh sets LIBCACHE_REQUIRE_INTEROP=1: there a skip is a failure.
if (skip && process.env.LIBCACHE_REQUIRE_INTEROP === '1')
  test('the interoperability test can run', () => assert.fail(`interop test cannot run: ${skip}`));

const PY_WRITE = `
import sys, libcache
c = libcache.Cache(codec="json")
rs = c.attach_redis(sys.argv[1], prefix="interop:")
c.set("py:bytes", b"\\x00\\xffpy")
c.set("py:str", "héllo from Python ✓")
c.set("py:json", {"list": [1, 2.5, None, True], "s": "x"})
c.set("py:int", 42)
store = libcache.SessionStore(c, idle_ttl=600)
sid = store.create({"user": "ada", "from": "python"})
rs.flush(5)
print(sid)
rs.close()
c.close()
`;

const PY_READ = `
import sys, libcache
c = libcache.Cache(codec="json")
rs = c.attach_redis(sys.argv[1], prefix="interop:")
assert c.get("node:bytes") == b"\\x00\\xffnode", repr(c.get("node:bytes"))
assert c.get("node:str") == "héllo from Node ✓", repr(c.get("node:str"))
assert c.get("node:json") == {"list": [1, 2.5, None, True], "s": "x"}, repr(c.get("node:json"))
store = libcache.SessionStore(c, idle_ttl=600)
data = store.get(sys.argv[2])
assert data == {"user": "bob", "from": "node", "n": 2}, repr(data)
store.save(sys.argv[2], {"user": "bob", "from": "python", "n": 3})
rs.close()
c.close()
print("ok")
`;

test('Python and Node.js share values and sessions through one Redis', { skip }, async (t) => {
  const server = await new RedisServer().start();
  t.after(() => server.stop());

  // Python writes, Node reads.
  const pySid = python(PY_WRITE, [server.url]);
  const c = new Cache({ codec: 'json' });
  const rs = c.attachRedis(server.url, { prefix: 'interop:' });
  assert.deepEqual(await c.getAsync('py:bytes'), Buffer.from([0x00, 0xff, 0x70, 0x79]));
  assert.equal(await c.getAsync('py:str'), 'héllo from Python ✓');
  assert.deepEqual(await c.getAsync('py:json'), { list: [1, 2.5, null, true], s: 'x' });
  assert.equal(await c.getAsync('py:int'), 42, "Python's native int tag reads as a number");
  const sessions = new SessionStore(c, { idleTtl: 600000 });
  assert.deepEqual(await sessions.get(pySid), { user: 'ada', from: 'python' });
  await sessions.save(pySid, { user: 'ada', from: 'node' });

  // Node writes, Python reads (and saves a session Node made).
  c.set('node:bytes', Buffer.from([0x00, 0xff, 0x6e, 0x6f, 0x64, 0x65]));
  c.set('node:str', 'héllo from Node ✓');
  c.set('node:json', { list: [1, 2.5, null, true], s: 'x' });
  const sid = await sessions.create({ user: 'bob', from: 'node', n: 1 });
  await sessions.get(sid);
  await sessions.save(sid, { user: 'bob', from: 'node', n: 2 });
  await rs.flush(5000);
  assert.equal(python(PY_READ, [server.url, sid]), 'ok');
  // Python's save bumped the version: this store's next save of what it saw conflicts.
  await assert.rejects(sessions.save(sid, { n: 99 }), lib.SessionConflictError);
  const fresh = new SessionStore(c, { idleTtl: 600000 });
  assert.deepEqual(await fresh.get(sid), { user: 'bob', from: 'python', n: 3 });
  // The Python session Node saved: Python reads Node's data.
  assert.equal(
    python(
      `import sys, libcache
c = libcache.Cache(codec="json"); c.attach_redis(sys.argv[1], prefix="interop:")
print(libcache.SessionStore(c).get(sys.argv[2])["from"]); c.close()`,
      [server.url, pySid]
    ),
    'node'
  );
  await rs.close();
  c.close();
});
