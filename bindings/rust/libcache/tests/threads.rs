//! Many threads on one cache: hammering every operation, single flight under
//! contention, loaders that fail or panic, values crossing threads.
use libcache::{Cache, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::Duration;

const THREADS: usize = 8;

/// The value every writer stores for a key: readers can check any value they
/// see is whole (a torn or foreign value would not match its key).
fn value_of(key: u32) -> Vec<u8> {
    let mut v = key.to_le_bytes().repeat(8);
    v.extend_from_slice(b"end");
    v
}

#[test]
fn many_threads_hammer_get_insert_remove_and_loads() {
    let cache = Arc::new(Cache::builder().max_entries(500).shards(4).build().unwrap());
    let loads = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, loads, barrier) = (cache.clone(), loads.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut seen: Vec<Value> = Vec::new();
                let mut x = 0x9e3779b9u32.wrapping_mul(t as u32 + 1);
                for i in 0..20_000u32 {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let key = x % 2000;
                    let k = key.to_le_bytes();
                    match i % 8 {
                        0..=3 => {
                            if let Some(v) = cache.get(&k) {
                                assert_eq!(&*v, &value_of(key)[..]);
                                if seen.len() < 64 {
                                    seen.push(v); // keep some pinned across evictions
                                }
                            }
                        }
                        4 => cache.insert(&k, &value_of(key)).unwrap(),
                        5 => {
                            if let Some(v) = cache.take(&k) {
                                assert_eq!(&*v, &value_of(key)[..]);
                            }
                        }
                        6 => {
                            cache.remove(&k);
                        }
                        _ => {
                            let v = cache
                                .get_or_insert_with(&k, || {
                                    loads.fetch_add(1, Ordering::Relaxed);
                                    Ok::<_, ()>(value_of(key))
                                })
                                .unwrap();
                            assert_eq!(&*v, &value_of(key)[..]);
                        }
                    }
                }
                for v in &seen {
                    let key = u32::from_le_bytes(v[..4].try_into().unwrap());
                    assert_eq!(&**v, &value_of(key)[..], "a pinned value changed");
                }
                seen.len()
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = cache.stats();
    assert!(s.entries <= 500, "{s:?}");
    assert!(s.hits > 0 && s.sets > 0 && s.deletes > 0, "{s:?}");
    assert!(loads.load(Ordering::Relaxed) > 0);
}

/// A loader that blocks until every other caller has joined the flight, so
/// that the test knows they all waited on one load.
#[test]
fn single_flight_runs_one_loader_under_contention() {
    for round in 0..20 {
        let cache = Cache::builder().build().unwrap();
        let calls = AtomicUsize::new(0);
        let started = Barrier::new(THREADS);
        let key = format!("key-{round}");
        thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        started.wait();
                        cache
                            .get_or_insert_with(key.as_bytes(), || {
                                calls.fetch_add(1, Ordering::SeqCst);
                                thread::sleep(Duration::from_millis(30));
                                Ok::<_, ()>(b"the value".to_vec())
                            })
                            .unwrap()
                    })
                })
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), b"the value");
            }
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "round {round}: the loader ran more than once"
        );
        assert_eq!(cache.stats().sets, 1);
    }
}

/// Waiters for a loader that fails or panics are not wedged: one of them loads
/// instead, and its value reaches the rest.
#[test]
fn a_failing_or_panicking_loader_does_not_wedge_waiters() {
    for panics in [false, true] {
        let cache = Cache::builder().build().unwrap();
        let calls = AtomicUsize::new(0);
        // The first loader holds its flight until the waiters are queued.
        let gate = (Mutex::new(false), Condvar::new());
        let waiting = AtomicUsize::new(0);
        thread::scope(|s| {
            let first = s.spawn(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    cache.get_or_insert_with(b"k", || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let mut open = gate.0.lock().unwrap();
                        while !*open {
                            open = gate.1.wait(open).unwrap();
                        }
                        if panics {
                            panic!("loader panicked");
                        }
                        Err("first loader failed")
                    })
                }))
            });
            while calls.load(Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
            let others: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        waiting.fetch_add(1, Ordering::SeqCst);
                        cache.get_or_insert_with(b"k", || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, &str>(b"second".to_vec())
                        })
                    })
                })
                .collect();
            while waiting.load(Ordering::SeqCst) < 4 {
                thread::yield_now();
            }
            thread::sleep(Duration::from_millis(20)); // let them reach the flight
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
            match first.join().unwrap() {
                Ok(r) => assert_eq!(r.unwrap_err(), "first loader failed"),
                Err(_) => assert!(panics, "only the panicking loader's caller panics"),
            }
            for h in others {
                assert_eq!(h.join().unwrap().unwrap(), b"second");
            }
        });
        assert_eq!(cache.get(b"k").unwrap(), b"second");
        let n = calls.load(Ordering::SeqCst);
        assert!((2..=5).contains(&n), "{n} loader calls");
    }
}

#[test]
fn values_cross_threads_and_outlive_the_cache() {
    let cache = Cache::builder().build().unwrap();
    for i in 0..100u32 {
        cache.insert(&i.to_le_bytes(), &value_of(i)).unwrap();
    }
    let values: Vec<Value> = (0..100u32).map(|i| cache.get(&i.to_le_bytes()).unwrap()).collect();
    let loaded = cache
        .get_or_insert_with(b"loaded", || Ok::<_, ()>(b"from a loader".to_vec()))
        .unwrap();
    drop(cache);
    let shared = Arc::new(values);
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let shared = shared.clone();
            thread::spawn(move || {
                for (i, v) in shared.iter().enumerate() {
                    assert_eq!(&**v, &value_of(i as u32)[..]);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(thread::spawn(move || loaded.to_vec()).join().unwrap(), b"from a loader");
}
