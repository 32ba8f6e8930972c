//! The safe API's behaviour: reads and writes, TTLs on the manual clock,
//! bounds, the error mapping, hostile input, values outliving their cache.
use libcache::experimental::ManualClock;
use libcache::{Cache, Error, Expiry, Policy, MAX_KEY_SIZE, MAX_TTL};
use std::time::Duration;

fn cache() -> Cache {
    Cache::builder().max_bytes(8 << 20).build().unwrap()
}

#[test]
fn insert_get_remove_take() {
    let c = cache();
    assert!(c.get(b"k").is_none());
    c.insert(b"k", b"v1").unwrap();
    assert_eq!(c.get(b"k").unwrap(), b"v1");
    c.insert(b"k", b"v2").unwrap();
    assert_eq!(c.get(b"k").unwrap(), b"v2");
    assert!(c.contains_key(b"k"));
    assert!(c.remove(b"k"));
    assert!(!c.remove(b"k"));
    assert!(!c.contains_key(b"k"));
    c.insert(b"t", b"taken").unwrap();
    assert_eq!(c.take(b"t").unwrap(), b"taken");
    assert!(c.take(b"t").is_none());
    assert!(c.get(b"t").is_none());
}

#[test]
fn empty_and_binary_keys_and_values() {
    let c = cache();
    c.insert(b"", b"empty key").unwrap();
    c.insert(b"\x00\xff\x00", b"").unwrap();
    assert_eq!(c.get(b"").unwrap(), b"empty key");
    let v = c.get(b"\x00\xff\x00").unwrap();
    assert!(v.is_empty());
    assert_eq!(&*v, b"");
}

#[test]
fn insert_if_absent_and_replace() {
    let c = cache();
    assert!(!c.replace(b"k", b"x").unwrap());
    assert!(c.get(b"k").is_none());
    assert!(c.insert_if_absent(b"k", b"first").unwrap());
    assert!(!c.insert_if_absent(b"k", b"second").unwrap());
    assert_eq!(c.get(b"k").unwrap(), b"first");
    assert!(c.replace(b"k", b"third").unwrap());
    assert_eq!(c.get(b"k").unwrap(), b"third");
}

#[test]
fn insert_parts_concatenates() {
    let c = cache();
    c.insert_parts(b"k", &[b"b", b"\x00\xff", b"", b"rust"], Expiry::Never)
        .unwrap();
    assert_eq!(c.get(b"k").unwrap(), b"b\x00\xffrust");
    assert_eq!(c.ttl(b"k"), Some(Expiry::Never));
    assert_eq!(
        c.insert_parts(&vec![0u8; MAX_KEY_SIZE + 1], &[b"v"], Expiry::Default),
        Err(Error::TooLarge)
    );
}

#[test]
fn ttls_on_the_manual_clock() {
    let clock = ManualClock::new();
    let c = Cache::builder()
        .manual_clock(&clock)
        .ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    c.insert(b"default", b"v").unwrap();
    c.insert_with_ttl(b"short", b"v", Duration::from_millis(1000)).unwrap();
    c.insert_with_ttl(b"never", b"v", Expiry::Never).unwrap();
    c.insert_with_ttl(b"tiny", b"v", Duration::from_micros(10)).unwrap(); // at least 1 ms
    assert_eq!(c.ttl(b"default"), Some(Expiry::After(Duration::from_secs(10))));
    assert_eq!(c.ttl(b"short"), Some(Expiry::After(Duration::from_millis(1000))));
    assert_eq!(c.ttl(b"never"), Some(Expiry::Never));
    assert_eq!(c.ttl(b"tiny"), Some(Expiry::After(Duration::from_millis(1))));
    assert_eq!(c.ttl(b"absent"), None);
    clock.advance(Duration::from_millis(1));
    assert!(c.get(b"tiny").is_none());
    clock.advance(Duration::from_millis(998));
    assert!(c.get(b"short").is_some(), "readable 999 ms after a 1000 ms TTL");
    clock.advance(Duration::from_millis(1));
    assert!(c.get(b"short").is_none(), "gone at its deadline");
    // touch slides the TTL.
    assert!(c.touch(b"default", Duration::from_secs(60)).unwrap());
    clock.advance(Duration::from_secs(30));
    assert!(c.get(b"default").is_some());
    assert!(!c.touch(b"absent", Duration::from_secs(1)).unwrap());
    assert!(c.touch(b"default", Expiry::Never).unwrap());
    assert_eq!(c.ttl(b"default"), Some(Expiry::Never));
    // purge_expired reclaims what expired and nothing else.
    c.insert_with_ttl(b"a", b"1", Duration::from_millis(5)).unwrap();
    c.insert_with_ttl(b"b", b"2", Duration::from_millis(5)).unwrap();
    clock.advance(Duration::from_millis(5));
    assert_eq!(c.purge_expired(), 2);
    assert!(c.get(b"never").is_some() && c.get(b"default").is_some());
}

#[test]
fn stats_count_operations() {
    let c = cache();
    c.insert(b"a", b"1").unwrap();
    c.insert(b"b", b"2").unwrap();
    let _ = c.get(b"a");
    let _ = c.get(b"zzz");
    c.remove(b"b");
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.sets, s.deletes, s.entries), (1, 1, 2, 1, 1));
    assert!(s.bytes > 0 && s.bytes <= 8 << 20);
    assert_eq!(s.hit_ratio(), 0.5);
    c.clear();
    let s = c.stats();
    assert_eq!((s.entries, s.sets), (0, 2), "clear keeps the counters");
}

#[test]
fn bounds_evict_and_too_large_values_are_refused() {
    let c = Cache::builder()
        .max_entries(10)
        .shards(1)
        .policy(Policy::Clock)
        .build()
        .unwrap();
    for i in 0..50u32 {
        c.insert(&i.to_le_bytes(), b"v").unwrap();
    }
    let s = c.stats();
    assert_eq!((s.entries, s.evictions), (10, 40));
    assert!(c.get(&49u32.to_le_bytes()).is_some());

    let small = Cache::builder().max_bytes(1 << 20).shards(1).build().unwrap();
    small.insert(b"k", b"old").unwrap();
    assert_eq!(small.insert(b"k", &vec![7u8; 2 << 20]), Err(Error::TooLarge));
    assert_eq!(
        small.get(b"k").unwrap(),
        b"old",
        "a refused write keeps the previous value"
    );
}

#[test]
fn hostile_input_is_an_error_never_a_panic() {
    let c = cache();
    let long_key = vec![b'k'; MAX_KEY_SIZE + 1];
    assert_eq!(c.insert(&long_key, b"v"), Err(Error::TooLarge));
    assert_eq!(c.insert_if_absent(&long_key, b"v"), Err(Error::TooLarge));
    assert_eq!(c.replace(&long_key, b"v"), Err(Error::TooLarge));
    assert!(c.get(&long_key).is_none());
    assert!(!c.contains_key(&long_key));
    assert!(!c.remove(&long_key));
    assert!(c.take(&long_key).is_none());
    assert_eq!(c.touch(&long_key, Duration::from_secs(1)), Ok(false));
    assert_eq!(c.ttl(&long_key), None);
    let max_key = vec![b'k'; MAX_KEY_SIZE];
    c.insert(&max_key, b"fits").unwrap();
    assert_eq!(c.get(&max_key).unwrap(), b"fits");

    let too_long = MAX_TTL + Duration::from_millis(1);
    assert_eq!(c.insert_with_ttl(b"k", b"v", too_long), Err(Error::InvalidArgument));
    assert_eq!(
        c.insert_with_ttl(b"k", b"v", Duration::MAX),
        Err(Error::InvalidArgument)
    );
    assert!(c.get(b"k").is_none(), "a refused write changes nothing");
    c.insert_with_ttl(b"k", b"v", MAX_TTL).unwrap();
    assert_eq!(c.touch(b"k", Duration::MAX), Err(Error::InvalidArgument));

    // Zero and huge options.
    let err = |b: libcache::Builder| b.build().map(|_| ()).unwrap_err();
    assert_eq!(err(Cache::builder().max_bytes(0)), Error::InvalidArgument);
    assert_eq!(
        err(Cache::builder().max_bytes(0).max_entries(0)),
        Error::InvalidArgument
    );
    assert_eq!(err(Cache::builder().shards(3)), Error::InvalidArgument);
    assert_eq!(err(Cache::builder().shards(2048)), Error::InvalidArgument);
    assert_eq!(err(Cache::builder().shards(u32::MAX)), Error::InvalidArgument);
    assert_eq!(err(Cache::builder().max_bytes(1)), Error::InvalidArgument);
    assert_eq!(
        err(Cache::builder().max_entries(u64::MAX).shards(1)),
        Error::InvalidArgument
    );
    assert_eq!(err(Cache::builder().ttl(Duration::MAX)), Error::InvalidArgument);
    // A huge byte bound is only a bound: nothing is allocated up front.
    let huge = Cache::builder().max_bytes(u64::MAX).build().unwrap();
    huge.insert(b"k", b"v").unwrap();
    assert_eq!(huge.get(b"k").unwrap(), b"v");
}

#[test]
fn errors_map_the_c_statuses() {
    use libcache_sys as sys;
    let all = [
        (sys::CACHE_NOT_FOUND, Error::NotFound, "not_found"),
        (sys::CACHE_EXISTS, Error::Exists, "exists"),
        (sys::CACHE_E_INVALID, Error::InvalidArgument, "invalid"),
        (sys::CACHE_E_NOMEM, Error::NoMemory, "no_mem"),
        (sys::CACHE_E_TOO_LARGE, Error::TooLarge, "too_large"),
        (sys::CACHE_E_BUFFER_TOO_SMALL, Error::BufferTooSmall, "buffer_too_small"),
        (sys::CACHE_E_IO, Error::Io, "io"),
        (sys::CACHE_E_FULL, Error::Full, "full"),
        (sys::CACHE_E_TIMEOUT, Error::Timeout, "timeout"),
        (sys::CACHE_E_CLOSED, Error::Closed, "closed"),
        (sys::CACHE_E_INTERNAL, Error::Internal, "internal"),
        (sys::CACHE_E_WRONG_KIND, Error::WrongKind, "wrong_kind"),
    ];
    assert_eq!(Error::from_status(sys::CACHE_OK), None);
    let mut texts = std::collections::HashSet::new();
    for (status, err, name) in all {
        assert_eq!(Error::from_status(status), Some(err));
        assert_eq!(err.status(), status);
        assert_eq!(err.name(), name);
        let text = err.to_string();
        assert!(!text.is_empty() && text != "unknown libcache status", "{err:?}: {text}");
        texts.insert(text);
    }
    assert_eq!(texts.len(), all.len(), "each status has its own text");
    assert_eq!(Error::from_status(-999), Some(Error::Unknown(-999)));
    assert_eq!(Error::Unknown(-999).to_string(), "unknown libcache status");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::TooLarge);
    assert!(boxed.to_string().contains("large"), "{boxed}");
}

#[test]
fn values_outlive_their_cache_and_its_entries() {
    let c = cache();
    c.insert(b"a", b"first").unwrap();
    c.insert(b"b", b"kept").unwrap();
    let a = c.get(b"a").unwrap();
    c.insert(b"a", b"second").unwrap(); // replaced
    let b = c.get(b"b").unwrap();
    c.clear();
    assert_eq!(a, b"first");
    let taken = {
        c.insert(b"t", b"taken").unwrap();
        c.take(b"t").unwrap()
    };
    drop(c);
    assert_eq!(a, b"first");
    assert_eq!(b, b"kept");
    assert_eq!(taken, b"taken");
    let joined = std::thread::spawn(move || (a.to_vec(), b.to_vec(), Vec::from(taken)))
        .join()
        .unwrap();
    assert_eq!(joined, (b"first".to_vec(), b"kept".to_vec(), b"taken".to_vec()));
}

#[test]
fn value_formats_and_compares() {
    let c = cache();
    c.insert(b"k", b"a\x00\"b").unwrap();
    let v = c.get(b"k").unwrap();
    assert_eq!(format!("{v:?}"), r#"Value(b"a\x00\"b")"#);
    assert_eq!(v, c.get(b"k").unwrap());
    assert_eq!(v, b"a\x00\"b".to_vec());
    assert_eq!(v.as_ref(), b"a\x00\"b");
    assert!(v.starts_with(b"a"));
}

#[test]
fn get_or_insert_with_loads_on_a_miss_only() {
    let clock = ManualClock::new();
    let c = Cache::builder().manual_clock(&clock).build().unwrap();
    let v = c.get_or_insert_with(b"k", || Ok::<_, ()>(b"loaded".to_vec())).unwrap();
    assert_eq!(v, b"loaded");
    assert_eq!(c.get(b"k").unwrap(), b"loaded", "the loaded value is cached");
    let v = c
        .get_or_insert_with(b"k", || -> Result<Vec<u8>, ()> { panic!("must not load on a hit") })
        .unwrap();
    assert_eq!(v, b"loaded");
    // The TTL variant stores with the TTL.
    c.get_or_insert_with_ttl(b"t", Duration::from_millis(50), || Ok::<_, ()>(b"x".to_vec()))
        .unwrap();
    assert_eq!(c.ttl(b"t"), Some(Expiry::After(Duration::from_millis(50))));
    // A failing loader's error is returned and nothing is stored.
    assert_eq!(
        c.get_or_insert_with(b"e", || Err::<Vec<u8>, _>("down")).unwrap_err(),
        "down"
    );
    assert!(c.get(b"e").is_none());
    // A value the cache cannot store is returned all the same.
    let long_key = vec![b'k'; MAX_KEY_SIZE + 1];
    let v = c
        .get_or_insert_with(&long_key, || Ok::<_, ()>(b"uncached".to_vec()))
        .unwrap();
    assert_eq!(v, b"uncached");
    let v = c
        .get_or_insert_with_ttl(b"huge-ttl", Duration::MAX, || Ok::<_, ()>(b"u".to_vec()))
        .unwrap();
    assert_eq!(v, b"u");
    assert!(c.get(b"huge-ttl").is_none());
}

#[test]
fn a_reentrant_load_of_the_same_key_panics_instead_of_hanging() {
    let c = cache();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.get_or_insert_with(b"k", || {
            c.get_or_insert_with(b"k", || Ok::<_, ()>(b"inner".to_vec()))
                .map(|v| v.to_vec())
        })
    }));
    let payload = r.unwrap_err();
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or(payload.downcast_ref::<String>().cloned());
    let msg = msg.unwrap();
    assert!(msg.contains("its own loader"), "{msg}");
    // The flight ended: the key loads normally afterwards.
    assert_eq!(
        c.get_or_insert_with(b"k", || Ok::<_, ()>(b"ok".to_vec())).unwrap(),
        b"ok"
    );
    // Another key from inside a loader is fine.
    let v = c.get_or_insert_with(b"outer", || {
        let inner = c.get_or_insert_with(b"inner", || Ok::<_, ()>(b"i".to_vec()))?;
        Ok::<_, ()>([&inner[..], b"o"].concat())
    });
    assert_eq!(v.unwrap(), b"io");
}

#[test]
fn policy_parses_and_both_policies_work() {
    for (name, p) in [("clock", Policy::Clock), ("adaptive", Policy::Adaptive)] {
        assert_eq!(name.parse::<Policy>(), Ok(p));
        let c = Cache::builder().policy(p).max_entries(100).build().unwrap();
        for i in 0..1000u32 {
            c.insert(&i.to_be_bytes(), b"v").unwrap();
        }
        assert!(c.stats().entries <= 100);
    }
    assert_eq!("LRU".parse::<Policy>(), Err(Error::InvalidArgument));
}

#[test]
fn library_version_matches_the_header() {
    let v = libcache::library_version();
    assert_eq!(v / 10000, libcache_sys::CACHE_VERSION_MAJOR as u32);
    assert!(v >= libcache_sys::CACHE_VERSION_NUMBER);
    assert!(cache().shard_count().is_power_of_two());
}
