//! Errors: the C ABI's statuses as one enum.

use std::ffi::CStr;
use std::fmt;

use libcache_sys as sys;

/// A libcache error: one variant per status of `<libcache/cache.h>`, with
/// `cache_strerror`'s text as its `Display`.
///
/// "Not found" and "exists" are usually results, not errors: `get` returns
/// `None`, `insert_if_absent` returns `false`. The variants exist for the
/// calls where they are failures and for completeness of the mapping.
///
/// ```
/// use libcache::{Cache, Error};
///
/// let cache = Cache::builder().max_bytes(1 << 20).build()?;
/// let key = vec![b'k'; 70_000]; // over the 65535-byte key limit
/// assert_eq!(cache.insert(&key, b"v"), Err(Error::TooLarge));
/// assert_eq!(Error::TooLarge.to_string(), Error::TooLarge.strerror());
/// # Ok::<(), libcache::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// `CACHE_NOT_FOUND`: no live entry for the key.
    NotFound,
    /// `CACHE_EXISTS`: a live entry exists already (or a cache has a store already).
    Exists,
    /// `CACHE_E_INVALID`: a bad argument or option (a TTL over 2^62 ms, a
    /// shard count that is not a power of two up to 1024, no bound at all...).
    InvalidArgument,
    /// `CACHE_E_NOMEM`: the engine could not allocate memory.
    NoMemory,
    /// `CACHE_E_TOO_LARGE`: a key over 65535 bytes, or an entry that can
    /// never fit in the cache's bounds (the previous value, if any, stays).
    TooLarge,
    /// `CACHE_E_BUFFER_TOO_SMALL`: a caller's buffer was too small.
    BufferTooSmall,
    /// `CACHE_E_IO`: an I/O error of an integration (Redis unreachable...).
    Io,
    /// `CACHE_E_FULL`: a bounded queue is full (the Redis write-behind queue).
    Full,
    /// `CACHE_E_TIMEOUT`: an operation timed out.
    Timeout,
    /// `CACHE_E_CLOSED`: the object was closed.
    Closed,
    /// `CACHE_E_INTERNAL`: a bug in libcache; please report it.
    Internal,
    /// `CACHE_E_WRONG_KIND`: the entry holds a language object, not bytes.
    WrongKind,
    /// A status this version of the crate does not know.
    Unknown(i32),
}

impl Error {
    /// The error for a C status; `None` for `CACHE_OK`.
    pub fn from_status(status: i32) -> Option<Error> {
        Some(match status {
            sys::CACHE_OK => return None,
            sys::CACHE_NOT_FOUND => Error::NotFound,
            sys::CACHE_EXISTS => Error::Exists,
            sys::CACHE_E_INVALID => Error::InvalidArgument,
            sys::CACHE_E_NOMEM => Error::NoMemory,
            sys::CACHE_E_TOO_LARGE => Error::TooLarge,
            sys::CACHE_E_BUFFER_TOO_SMALL => Error::BufferTooSmall,
            sys::CACHE_E_IO => Error::Io,
            sys::CACHE_E_FULL => Error::Full,
            sys::CACHE_E_TIMEOUT => Error::Timeout,
            sys::CACHE_E_CLOSED => Error::Closed,
            sys::CACHE_E_INTERNAL => Error::Internal,
            sys::CACHE_E_WRONG_KIND => Error::WrongKind,
            other => Error::Unknown(other),
        })
    }

    /// The C status this error stands for (`CACHE_E_*`, or a result).
    pub fn status(&self) -> i32 {
        match *self {
            Error::NotFound => sys::CACHE_NOT_FOUND,
            Error::Exists => sys::CACHE_EXISTS,
            Error::InvalidArgument => sys::CACHE_E_INVALID,
            Error::NoMemory => sys::CACHE_E_NOMEM,
            Error::TooLarge => sys::CACHE_E_TOO_LARGE,
            Error::BufferTooSmall => sys::CACHE_E_BUFFER_TOO_SMALL,
            Error::Io => sys::CACHE_E_IO,
            Error::Full => sys::CACHE_E_FULL,
            Error::Timeout => sys::CACHE_E_TIMEOUT,
            Error::Closed => sys::CACHE_E_CLOSED,
            Error::Internal => sys::CACHE_E_INTERNAL,
            Error::WrongKind => sys::CACHE_E_WRONG_KIND,
            Error::Unknown(s) => s,
        }
    }

    /// The conformance suite's name of the status (`tests/conformance/`):
    /// the C name without its prefix, in lower case (`"too_large"`).
    pub fn name(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::Exists => "exists",
            Error::InvalidArgument => "invalid",
            Error::NoMemory => "no_mem",
            Error::TooLarge => "too_large",
            Error::BufferTooSmall => "buffer_too_small",
            Error::Io => "io",
            Error::Full => "full",
            Error::Timeout => "timeout",
            Error::Closed => "closed",
            Error::Internal => "internal",
            Error::WrongKind => "wrong_kind",
            Error::Unknown(_) => "unknown",
        }
    }

    /// `cache_strerror`'s static description of the status.
    pub fn strerror(&self) -> &'static str {
        // SAFETY: cache_strerror returns a static NUL-terminated string for any int.
        unsafe { CStr::from_ptr(sys::cache_strerror(self.status())) }
            .to_str()
            .unwrap_or("libcache error")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.strerror())
    }
}

impl std::error::Error for Error {}

/// `Ok(())` for `CACHE_OK`, else the error.
pub(crate) fn check(status: i32) -> Result<(), Error> {
    match Error::from_status(status) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}
