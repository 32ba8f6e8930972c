// Compiled by `npm run typecheck` (tsc --strict --noEmit): the package's
// types as a user writes against them.
import { Cache, FakeClock, CacheClosedError, LibcacheError, ValueView, CacheStats } from '../index';

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
void [v, ok, ms, s, p];
