//! The library is linked the way the features say: libcache.so.1 mapped by
//! default, nothing of it with `static` (libcache.a is in the test binary).
#[test]
fn linked_as_the_features_say() {
    // A call, so that the library is really linked and loaded.
    let v = unsafe { libcache_sys::cache_version_number() };
    assert!(v >= libcache_sys::CACHE_VERSION_NUMBER);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let shared = maps.lines().any(|l| l.contains("/libcache.so"));
    assert_eq!(shared, !cfg!(feature = "static"), "libcache.so mapped: {shared}");
}
