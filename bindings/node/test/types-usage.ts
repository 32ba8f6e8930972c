// Compiled by `npm run typecheck` (tsc --strict --noEmit): the package's
// types as a user writes against them.
import { Cache, FakeClock, CacheClosedError, LibcacheError, ValueView, CacheStats, SessionStore, RedisStore, hasRedis } from '../index';

const clock = new FakeClock(1_000_000);
const c = new Cache({ maxBytes: 1 << 20, maxEntries: 100, ttl: 1000, shards: 2, policy: 'adaptive', _clock: clock });
c.set('a', 'x', { ttl: 5 }).set(Buffer.from('b'), Buffer.from([1, 2]));
const v: string | Buffer | undefined = c.get('a');
const ok: boolean = c.has('a') && c.delete('a') && c.touch('b', 10) && c.add('n', 'y') && c.replace('n', 'z');
const ms: number = c.getRemainingTTL('b');
const s: CacheStats = c.stats();
const view: ValueView | undefined = c.getView('b');
if (view) {
  const n: number = view.buffer.length;
  view.release();
  void n;
}
clock.advance(10);

const j = new Cache<{ id: number } | string>({ codec: 'json' });
j.set('o', { id: 1 });
const p: Promise<{ id: number } | string | undefined> = j.fetch('k', async () => ({ id: 2 }), { ttl: 100 });

try {
  c.close();
  c.get('a');
} catch (e) {
  if (e instanceof CacheClosedError) console.log(e.code);
  if (e instanceof LibcacheError) console.log(e.status);
}
async function shared(url: string): Promise<void> {
  const cache = new Cache({ maxBytes: 1 << 20 });
  const rs: RedisStore = cache.attachRedis(url, { prefix: 'app:', readThrough: true, connectTimeout: 500 });
  await rs.flush(1000);
  const st = await rs.stats();
  const hits: number = st.readHits;
  const got: string | Buffer | undefined = await cache.getAsync('k');
  const sessions = new SessionStore<{ user: string }>(cache, { idleTtl: 60_000 });
  const sid: string = await sessions.create({ user: 'ada' });
  const data: { user: string } | undefined = await sessions.get(sid);
  await sessions.save(sid, { user: 'bob' });
  const gone: boolean = await sessions.destroy(sid);
  const unflushed: number = await rs.close();
  void [hits, got, data, gone, unflushed, hasRedis];
}
void [v, ok, ms, s, p, shared];
