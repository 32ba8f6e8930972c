//! `Value`: a pinned, immutable value read without a copy.

use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

use libcache_sys as sys;

/// What keeps a [`Value`]'s bytes alive.
enum Owner {
    /// A pin of the engine (`cache_get_value`, `cache_take`), released on drop.
    Pinned(NonNull<sys::cache_value_t>),
    /// Bytes a loader produced ([`Cache::get_or_insert_with`](crate::Cache::get_or_insert_with)),
    /// shared with the callers that waited for it.
    Shared(#[allow(dead_code)] Arc<[u8]>),
}

/// A value read from a cache, without a copy: it derefs to `[u8]`.
///
/// The engine pins the value (a reference count): its bytes stay valid and
/// unchanged until the `Value` is dropped, even after its entry is replaced,
/// removed, evicted or expired, and after its [`Cache`](crate::Cache) is
/// dropped. A `Value` may be sent to and read from any thread. Holding many
/// values holds their memory outside the cache's `max_bytes`.
///
/// ```
/// use libcache::Cache;
///
/// let cache = Cache::builder().build()?;
/// cache.insert(b"k", b"hello")?;
/// let v = cache.get(b"k").unwrap();
/// drop(cache); // the value stays valid
/// assert_eq!(&*v, b"hello");
/// assert_eq!(v.len(), 5);
/// let handle = std::thread::spawn(move || v.to_vec());
/// assert_eq!(handle.join().unwrap(), b"hello");
/// # Ok::<(), libcache::Error>(())
/// ```
pub struct Value {
    ptr: *const u8,
    len: usize,
    owner: Owner,
}

// SAFETY: the engine documents cache_value_t handles as usable and
// releasable from any thread, and the bytes are immutable while pinned;
// Arc<[u8]> is Send + Sync.
unsafe impl Send for Value {}
unsafe impl Sync for Value {}

impl Value {
    /// Adopts a handle from `cache_get_value` or `cache_take`.
    ///
    /// # Safety
    /// `handle` is a live pin the caller owns; the `Value` releases it.
    pub(crate) unsafe fn from_pinned(handle: NonNull<sys::cache_value_t>) -> Value {
        // SAFETY: a live handle; data() is never NULL for one (it may be a
        // dangling non-NULL pointer for an empty value, never read then).
        let (ptr, len) = unsafe {
            (
                sys::cache_value_data(handle.as_ptr()) as *const u8,
                sys::cache_value_size(handle.as_ptr()),
            )
        };
        let ptr = if len == 0 {
            NonNull::<u8>::dangling().as_ptr() as *const u8
        } else {
            ptr
        };
        Value {
            ptr,
            len,
            owner: Owner::Pinned(handle),
        }
    }

    pub(crate) fn from_shared(bytes: Arc<[u8]>) -> Value {
        Value {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
            owner: Owner::Shared(bytes),
        }
    }

    /// The bytes (as `Deref` gives them).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: ptr/len describe bytes kept alive and unchanged by owner.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if let Owner::Pinned(h) = self.owner {
            // SAFETY: the pin is ours, released exactly once.
            unsafe { sys::cache_value_release(h.as_ptr()) }
        }
    }
}

impl Deref for Value {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::borrow::Borrow<[u8]> for Value {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value(b\"{}\")", self.as_bytes().escape_ascii())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Value {}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Value {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Value {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_bytes() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Value {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == *other
    }
}

impl PartialEq<Vec<u8>> for Value {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl From<Value> for Vec<u8> {
    fn from(v: Value) -> Vec<u8> {
        v.as_bytes().to_vec()
    }
}
