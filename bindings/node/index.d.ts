// Type definitions for libcache (Node.js binding), written by hand.
/// <reference types="node" />

export type Key = string | Uint8Array;
/** What get() returns: a Buffer for bytes, a string for strings; with codec "json", any JSON value. */
export type Value = Buffer | string;

export interface CacheOptions {
  /** Upper bound on memory held by entries, engine overhead included (default 64 MiB; 0 = none, then maxEntries). */
  maxBytes?: number;
  /** Upper bound on the number of entries (default: none). */
  maxEntries?: number;
  /** Default TTL in ms for writes without one (default: none). */
  ttl?: number;
  /** Lock shards: a power of two up to 1024 (default: automatic). */
  shards?: number;
  /** Eviction policy (default "clock"). */
  policy?: 'clock' | 'adaptive';
  /** "json": values other than Buffers and strings are stored as JSON. */
  codec?: 'json';
  /** Test-only: a manual clock. */
  _clock?: FakeClock;
}

export interface SetOptions {
  /** ms before the entry expires; 0 or Infinity: never; omitted: the cache's default TTL. */
  ttl?: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  evictions: number;
  expirations: number;
  entries: number;
  bytes: number;
}

export class ValueView {
  private constructor();
  /** The stored bytes, zero-copy, valid until release() (then detached, length 0). */
  readonly buffer: Buffer;
  /** How the value was stored. */
  readonly type: 'bytes' | 'string' | 'json' | 'int' | 'float' | 'bool' | 'null' | 'unknown';
  /** Unpins the bytes; false if already released. */
  release(): boolean;
}

export class Cache<V = Value> {
  constructor(options?: CacheOptions);
  readonly policy: 'clock' | 'adaptive';
  readonly size: number;
  readonly shards: number;
  readonly closed: boolean;
  get(key: Key): V | undefined;
  set(key: Key, value: V, options?: SetOptions): this;
  add(key: Key, value: V, options?: SetOptions): boolean;
  replace(key: Key, value: V, options?: SetOptions): boolean;
  has(key: Key): boolean;
  delete(key: Key): boolean;
  take(key: Key): V | undefined;
  touch(key: Key, ttl?: number): boolean;
  /** ms left; Infinity without a TTL; 0 when absent. */
  getRemainingTTL(key: Key): number;
  clear(): void;
  purgeExpired(): number;
  stats(): CacheStats;
  getView(key: Key): ValueView | undefined;
  fetch(key: Key, loader: (key: Key) => V | undefined | Promise<V | undefined>, options?: SetOptions): Promise<V | undefined>;
  /** As get(), on a worker thread (a read-through miss waits for Redis there). */
  getAsync(key: Key): Promise<V | undefined>;
  attachRedis(url: string, options?: RedisOptions): RedisStore;
  /** The attached, open Redis store, or null. */
  readonly redis: RedisStore | null;
  close(): void;
}

export interface RedisOptions {
  /** Prepended to every key in Redis (default ""). */
  prefix?: string | Uint8Array;
  /** Connect timeout, ms (default 1000). */
  connectTimeout?: number;
  /** Per-command timeout, ms (default 1000). */
  commandTimeout?: number;
  /** Write-behind flush interval, ms. */
  flushInterval?: number;
  /** Keep local copies coherent with Redis (default true). */
  coherence?: boolean;
  /**
   * Read misses through from Redis (default true). A synchronous get() of a
   * missing key then waits for Redis (up to loadTimeout); getAsync() waits on
   * a worker thread instead.
   */
  readThrough?: boolean;
  /** How long a read-through load may take, ms (default 100). */
  loadTimeout?: number;
}

export interface RedisStats {
  queuedOps: number;
  flushedOps: number;
  batches: number;
  retries: number;
  storeErrors: number;
  deadLetters: number;
  readHits: number;
  readMisses: number;
  readErrors: number;
  invalidations: number;
  connects: number;
  connectErrors: number;
  tracking: number;
  trackingResets: number;
  [name: string]: number;
}

export type RedisReply = null | number | string | Buffer | RedisReply[];

export class RedisStore {
  private constructor();
  readonly prefix: Buffer;
  readonly closed: boolean;
  readonly readThrough: boolean;
  readonly coherence: boolean;
  /** Write-through: resolves once Redis (and then this cache) has key = value. */
  setSync(key: Key, value: Buffer | string, options?: SetOptions, timeout?: number): Promise<void>;
  /** This cache stops serving its copy of key. */
  invalidate(key: Key): void;
  /** Resolves once every write made before the call reached Redis. */
  flush(timeout?: number): Promise<void>;
  stats(): Promise<RedisStats>;
  /** One command on a pooled connection (keys given whole, prefix included). */
  command(args: Array<string | Uint8Array | number>, timeout?: number): Promise<RedisReply>;
  /** Closes the adapter after flushing (up to timeout ms); resolves to the number of writes not flushed. */
  close(timeout?: number): Promise<number>;
}

export interface SessionStoreOptions {
  /** ms a session survives without get() or save() (default 30 min). */
  idleTtl?: number;
  /** ms a session survives at most (default 24 h). */
  absoluteTtl?: number;
  /** Key prefix (default "session:"). */
  prefix?: string;
  /** Wall-clock epoch ms (default Date.now). */
  clock?: () => number;
  /** With Redis, get() moves the idle deadline only by more than this fraction of idleTtl (default 0.25). */
  refreshFraction?: number;
  /** ms to wait for Redis (default 1000). */
  timeout?: number;
}

export class SessionStore<D = unknown> {
  constructor(cache: Cache<any>, options?: SessionStoreOptions);
  readonly shared: boolean;
  /** Starts a session; resolves to its id (43 URL-safe characters). */
  create(data: D): Promise<string>;
  get(sid: string): Promise<D | undefined>;
  save(sid: string, data: D): Promise<void>;
  destroy(sid: string): Promise<boolean>;
}

/** Test-only: a manual clock (ms) that a cache reads instead of the real one. */
export class FakeClock {
  constructor(startMs?: number);
  readonly now: number;
  advance(ms: number): void;
}

export const version: string;
/** true when this build has the Redis adapter. */
export const hasRedis: boolean;

export class LibcacheError extends Error {
  readonly code: string;
  readonly status?: number;
}
export class InvalidArgumentError extends LibcacheError {}
export class TooLargeError extends LibcacheError {}
export class OutOfMemoryError extends LibcacheError {}
export class CacheClosedError extends LibcacheError {}
export class CodecError extends LibcacheError {}
export class BackendError extends LibcacheError {}
export class QueueFullError extends LibcacheError {}
export class TimeoutError extends LibcacheError {}
export class ReentrantLoadError extends LibcacheError {}
export class SessionConflictError extends LibcacheError {}
export class RedisReplyError extends LibcacheError {}
export class InternalError extends LibcacheError {}
