'use strict';
// libcache's Node binding against the npm lru-cache package and a Map, in
// one process: get-hit, get-miss, set with eviction; string keys, 100-byte
// values (strings, and Buffers for libcache), N keys in a cache bounded to
// hold N/2 for the set case. Each case runs RUNS times, alternating the
// contenders; the table gives the median ns per operation.
//   node bench/bench.js [--quick]
const { Cache } = require('..');
const { LRUCache } = require('lru-cache');

const quick = process.argv.includes('--quick');
const RUNS = quick ? 3 : 7;
const N = 100_000;
const OPS = quick ? 200_000 : 1_000_000;
const VALUE = 'v'.repeat(100);
const VALUE_BUF = Buffer.from(VALUE);
const keys = Array.from({ length: N }, (_, i) => `key:${i}`);
const missKeys = Array.from({ length: N }, (_, i) => `miss:${i}`);

function time(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / OPS;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

let sink = 0;
const contenders = {
  'libcache (string)': {
    make: (max) => new Cache(max ? { maxEntries: max, maxBytes: 0 } : { maxBytes: 256 << 20 }),
    get: (c, k) => c.get(k),
    set: (c, k) => c.set(k, VALUE),
    close: (c) => c.close(),
  },
  'libcache (Buffer)': {
    make: (max) => new Cache(max ? { maxEntries: max, maxBytes: 0 } : { maxBytes: 256 << 20 }),
    get: (c, k) => c.get(k),
    set: (c, k) => c.set(k, VALUE_BUF),
    close: (c) => c.close(),
  },
  'lru-cache': {
    make: (max) => new LRUCache({ max: max || N * 2 }),
    get: (c, k) => c.get(k),
    set: (c, k) => c.set(k, VALUE),
    close: () => {},
  },
  Map: {
    make: () => new Map(),
    get: (c, k) => c.get(k),
    set: (c, k) => c.set(k, VALUE),
    close: () => {},
  },
};

const cases = {
  'get hit': (x) => {
    const c = x.make(0);
    for (const k of keys) x.set(c, k);
    const ns = time(() => {
      for (let i = 0; i < OPS; i++) if (x.get(c, keys[i % N]) !== undefined) sink++;
    });
    x.close(c);
    return ns;
  },
  'get miss': (x) => {
    const c = x.make(0);
    for (const k of keys) x.set(c, k);
    const ns = time(() => {
      for (let i = 0; i < OPS; i++) if (x.get(c, missKeys[i % N]) !== undefined) sink++;
    });
    x.close(c);
    return ns;
  },
  'set (evicting)': (x) => {
    if (x.make === contenders.Map.make) return NaN; // a Map never evicts
    const c = x.make(N / 2);
    for (const k of keys) x.set(c, k); // full: every later set evicts
    const ns = time(() => {
      for (let i = 0; i < OPS; i++) x.set(c, keys[i % N]);
    });
    x.close(c);
    return ns;
  },
};

const results = {};
for (const [name, run] of Object.entries(cases)) {
  results[name] = {};
  for (const who of Object.keys(contenders)) results[name][who] = [];
  for (let r = 0; r < RUNS; r++)
    for (const [who, x] of Object.entries(contenders)) results[name][who].push(run(x));
}

const whos = Object.keys(contenders);
const pad = (s, n) => String(s).padStart(n);
console.log(`node ${process.version}, ${N} keys, 100-byte values, ${OPS} ops a run, median of ${RUNS} runs (ns/op)`);
console.log(pad('', 16) + whos.map((w) => pad(w, 19)).join(''));
for (const name of Object.keys(cases)) {
  const row = whos.map((w) => {
    const m = median(results[name][w]);
    return pad(Number.isNaN(m) ? '-' : m.toFixed(0), 19);
  });
  console.log(pad(name, 16) + row.join(''));
}
if (sink === -1) console.log(sink);
