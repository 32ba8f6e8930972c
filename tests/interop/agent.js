'use strict';
// The Node.js interop agent (tests/interop/README.md has the contract).
//
//   node agent.js write <redis-url> <lang>   // write <lang>:bytes, :str, :json
//   node agent.js read  <redis-url> <lang>   // read what the writer <lang> wrote
//
// Runs the package of this tree (bindings/node, built by npm ci / npm run build).
const assert = require('node:assert/strict');
const path = require('node:path');
const { Cache } = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

const JSON_VALUE = { list: [1, 2.5, null, true], s: 'x' };

function expected(lang) {
  return [
    [`${lang}:bytes`, Buffer.concat([Buffer.from([0x00, 0xff]), Buffer.from(lang, 'ascii')])],
    [`${lang}:str`, `héllo from ${lang} ✓`],
    [`${lang}:json`, JSON_VALUE],
  ];
}

async function main(argv) {
  const [mode, url, lang] = argv;
  if (argv.length !== 3 || (mode !== 'write' && mode !== 'read')) {
    process.stderr.write('usage: agent.js write|read <redis-url> <lang>\n');
    return 2;
  }
  const cache = new Cache({ codec: 'json' });
  const redis = cache.attachRedis(url, { prefix: 'interop:' });
  try {
    if (mode === 'write') {
      for (const [key, value] of expected(lang)) cache.set(key, value);
      await redis.flush(5000);
    } else {
      const wrong = [];
      for (const [key, want] of expected(lang)) {
        const got = await cache.getAsync(key); // a local miss reads through to Redis
        try {
          assert.deepStrictEqual(got, want);
        } catch {
          wrong.push(`${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
        }
      }
      if (wrong.length) {
        process.stderr.write(wrong.join('\n') + '\n');
        return 1;
      }
    }
  } finally {
    await redis.close();
    cache.close();
  }
  process.stdout.write('ok\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  }
);
