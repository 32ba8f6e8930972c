'use strict';
// The package's errors. Every error libcache throws on purpose is a
// LibcacheError with a `.code` string (ERR_LIBCACHE_*) and, for an engine
// status, `.status` (the C ABI's CACHE_E_* value); a bad argument is a
// TypeError (code ERR_INVALID_ARG_TYPE) or a RangeError (ERR_OUT_OF_RANGE),
// as Node's own APIs throw.

class LibcacheError extends Error {
  constructor(message, code = 'ERR_LIBCACHE', status = undefined) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (status !== undefined) this.status = status;
  }
}
class InvalidArgumentError extends LibcacheError {}
class TooLargeError extends LibcacheError {}
class OutOfMemoryError extends LibcacheError {}
class CacheClosedError extends LibcacheError {}
class CodecError extends LibcacheError {}
class BackendError extends LibcacheError {}
class QueueFullError extends LibcacheError {}
class TimeoutError extends LibcacheError {}
class ReentrantLoadError extends LibcacheError {}
class SessionConflictError extends LibcacheError {}
class RedisReplyError extends LibcacheError {}
class InternalError extends LibcacheError {}

// C ABI status (capi/include/libcache/cache.h) -> [class, code]. The code is
// ERR_LIBCACHE_ + the status name without CACHE_E_ (the conformance suite's
// error NAME, upper case).
const BY_STATUS = new Map([
  [-1, [InvalidArgumentError, 'ERR_LIBCACHE_INVALID']],
  [-2, [OutOfMemoryError, 'ERR_LIBCACHE_NO_MEM']],
  [-3, [TooLargeError, 'ERR_LIBCACHE_TOO_LARGE']],
  [-4, [LibcacheError, 'ERR_LIBCACHE_BUFFER_TOO_SMALL']],
  [-5, [BackendError, 'ERR_LIBCACHE_IO']],
  [-6, [QueueFullError, 'ERR_LIBCACHE_FULL']],
  [-7, [TimeoutError, 'ERR_LIBCACHE_TIMEOUT']],
  [-8, [CacheClosedError, 'ERR_LIBCACHE_CLOSED']],
  [-9, [InternalError, 'ERR_LIBCACHE_INTERNAL']],
  [-10, [LibcacheError, 'ERR_LIBCACHE_WRONG_KIND']],
  [2, [LibcacheError, 'ERR_LIBCACHE_EXISTS']],
  [-1000, [CodecError, 'ERR_LIBCACHE_CODEC']], // the addon's: stored bytes no codec reads
  [-1001, [RedisReplyError, 'ERR_LIBCACHE_REDIS_REPLY']], // the addon's: Redis answered an error
]);

function makeError(status, message) {
  const [Cls, code] = BY_STATUS.get(status) || [LibcacheError, 'ERR_LIBCACHE_UNKNOWN'];
  return new Cls(message, code, status);
}

function typeError(message) {
  const e = new TypeError(message);
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

function rangeError(message) {
  const e = new RangeError(message);
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

module.exports = {
  LibcacheError,
  InvalidArgumentError,
  TooLargeError,
  OutOfMemoryError,
  CacheClosedError,
  CodecError,
  BackendError,
  QueueFullError,
  TimeoutError,
  ReentrantLoadError,
  SessionConflictError,
  RedisReplyError,
  InternalError,
  makeError,
  typeError,
  rangeError,
};
