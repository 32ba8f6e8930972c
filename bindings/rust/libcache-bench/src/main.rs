//! libcache against moka (sync::Cache) and quick_cache (sync::Cache), in the
//! same run: get-hit, get-miss and insert with eviction, with 1 and 2 threads.
//!
//! Workloads (as bench/cache_bench in C++): 16-byte keys, 100-byte values.
//! - get-hit: 32,768 resident keys, read in a Zipf(0.99) order;
//! - get-miss: the same cache, reads of 32,768 keys never written;
//! - insert with eviction: a cache of 100,000 entries, filled first, then
//!   inserts of keys drawn uniformly from 1,000,000 (almost every one
//!   evicts).
//! Each engine holds its own copy of every value it is given (libcache copies
//! the bytes into its entry; moka and quick_cache get a new Arc<[u8]>), and a
//! get returns something that keeps the value alive (libcache's pinned
//! `Value`, the peers' cloned Arc), whose first byte is read.
//!
//! ns/op is aggregate wall time per operation: with 2 threads both threads'
//! operations share the wall time (1e9 / ops per second). Each row is the
//! median of RUNS runs; the engines take turns within each run.
//!
//! Run: cargo run --release -p libcache-bench [-- --quick]
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

type Key = [u8; 16];

const RESIDENT: usize = 32_768;
const CAPACITY: usize = 100_000;
const KEY_SPACE: usize = 1_000_000;
const VALUE_SIZE: usize = 100;

trait Engine: Sync {
    const NAME: &'static str;
    fn with_capacity(entries: usize) -> Self;
    fn get(&self, key: &Key) -> bool;
    fn insert(&self, key: &Key, value: &[u8]);
    /// Finishes deferred work of the writes so far (moka's housekeeping),
    /// so that a timed phase does not pay for the untimed one before it.
    fn settle(&self) {}
}

struct Libcache(libcache::Cache);
struct Moka(moka::sync::Cache<Key, Arc<[u8]>>);
struct Quick(quick_cache::sync::Cache<Key, Arc<[u8]>>);

impl Engine for Libcache {
    const NAME: &'static str = "libcache";
    fn with_capacity(entries: usize) -> Self {
        Libcache(
            libcache::Cache::builder()
                .max_entries(entries as u64)
                .max_bytes(1 << 30)
                .build()
                .unwrap(),
        )
    }
    #[inline]
    fn get(&self, key: &Key) -> bool {
        match self.0.get(key) {
            Some(v) => {
                black_box(v[0]);
                true
            }
            None => false,
        }
    }
    #[inline]
    fn insert(&self, key: &Key, value: &[u8]) {
        self.0.insert(key, value).unwrap();
    }
}

impl Engine for Moka {
    const NAME: &'static str = "moka";
    fn with_capacity(entries: usize) -> Self {
        Moka(moka::sync::Cache::builder().max_capacity(entries as u64).build())
    }
    #[inline]
    fn get(&self, key: &Key) -> bool {
        match self.0.get(key) {
            Some(v) => {
                black_box(v[0]);
                true
            }
            None => false,
        }
    }
    #[inline]
    fn insert(&self, key: &Key, value: &[u8]) {
        self.0.insert(*key, Arc::from(value));
    }
    fn settle(&self) {
        self.0.run_pending_tasks();
    }
}

impl Engine for Quick {
    const NAME: &'static str = "quick_cache";
    fn with_capacity(entries: usize) -> Self {
        Quick(quick_cache::sync::Cache::new(entries))
    }
    #[inline]
    fn get(&self, key: &Key) -> bool {
        match self.0.get(key) {
            Some(v) => {
                black_box(v[0]);
                true
            }
            None => false,
        }
    }
    #[inline]
    fn insert(&self, key: &Key, value: &[u8]) {
        self.0.insert(*key, Arc::from(value));
    }
}

fn key(prefix: &str, i: usize) -> Key {
    let s = format!("{prefix}{i:012}");
    s.as_bytes().try_into().unwrap()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `len` indexes in [0, n) drawn from Zipf(s), rank 0 the most frequent,
/// ranks shuffled over the keys.
fn zipf_stream(n: usize, s: f64, len: usize, seed: u64) -> Vec<usize> {
    let mut cdf = Vec::with_capacity(n);
    let mut sum = 0.0;
    for r in 1..=n {
        sum += 1.0 / (r as f64).powf(s);
        cdf.push(sum);
    }
    let mut rng = Rng(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    (0..len)
        .map(|_| {
            let u = rng.unit() * sum;
            perm[cdf.partition_point(|&c| c < u).min(n - 1)]
        })
        .collect()
}

/// Runs `op` over `stream` on `threads` threads (each from its own offset)
/// and returns the aggregate ns per operation.
fn timed<E: Engine>(e: &E, threads: usize, ops: usize, stream: &[Key], op: fn(&E, &Key, &[u8])) -> f64 {
    let value = vec![0x5au8; VALUE_SIZE];
    let barrier = Barrier::new(threads + 1);
    let mut elapsed = Duration::ZERO;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (barrier, value) = (&barrier, &value);
            s.spawn(move || {
                let start = t * stream.len() / threads;
                barrier.wait();
                for i in 0..ops {
                    op(e, &stream[(start + i) % stream.len()], value);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let t0 = Instant::now();
        barrier.wait();
        elapsed = t0.elapsed();
    });
    elapsed.as_nanos() as f64 / (ops * threads) as f64
}

struct Streams {
    hit: Vec<Key>,
    miss: Vec<Key>,
    insert: Vec<Key>,
}

fn get_op<E: Engine>(e: &E, k: &Key, _: &[u8]) {
    black_box(e.get(k));
}

fn insert_op<E: Engine>(e: &E, k: &Key, v: &[u8]) {
    e.insert(k, v);
}

/// One run of every workload for engine E: [(row, ns/op)].
fn run_engine<E: Engine>(st: &Streams, ops: usize) -> Vec<(String, f64)> {
    let value = vec![0x5au8; VALUE_SIZE];
    let mut rows = Vec::new();
    let reads = E::with_capacity(RESIDENT * 2);
    for i in 0..RESIDENT {
        reads.insert(&key("key:", i), &value);
    }
    reads.settle();
    for i in 0..RESIDENT {
        assert!(reads.get(&key("key:", i)), "{}: key {i} not resident", E::NAME);
    }
    reads.settle();
    for threads in [1, 2] {
        rows.push((
            format!("get-hit, {threads} thread(s)"),
            timed(&reads, threads, ops, &st.hit, get_op::<E>),
        ));
        rows.push((
            format!("get-miss, {threads} thread(s)"),
            timed(&reads, threads, ops, &st.miss, get_op::<E>),
        ));
    }
    drop(reads);
    for threads in [1, 2] {
        let writes = E::with_capacity(CAPACITY);
        for i in 0..CAPACITY {
            writes.insert(&key("fil:", i), &value);
        }
        writes.settle();
        rows.push((
            format!("insert with eviction, {threads} thread(s)"),
            timed(&writes, threads, ops / 2, &st.insert, insert_op::<E>),
        ));
    }
    rows
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, ops) = if quick { (3, 200_000) } else { (7, 1_000_000) };
    let hit_idx = zipf_stream(RESIDENT, 0.99, 1 << 20, 42);
    let mut rng = Rng(7);
    let st = Streams {
        hit: hit_idx.iter().map(|&i| key("key:", i)).collect(),
        miss: (0..1 << 20)
            .map(|_| key("mis:", (rng.next() % RESIDENT as u64) as usize))
            .collect(),
        insert: (0..1 << 20)
            .map(|_| key("new:", (rng.next() % KEY_SPACE as u64) as usize))
            .collect(),
    };
    let names = [Libcache::NAME, Moka::NAME, Quick::NAME];
    // samples[engine][row] = ns/op of each run
    let mut samples: Vec<Vec<(String, Vec<f64>)>> = vec![Vec::new(); 3];
    for run in 0..runs {
        eprintln!("run {}/{runs}", run + 1);
        let results = [
            run_engine::<Libcache>(&st, ops),
            run_engine::<Moka>(&st, ops),
            run_engine::<Quick>(&st, ops),
        ];
        for (e, rows) in results.into_iter().enumerate() {
            for (i, (row, ns)) in rows.into_iter().enumerate() {
                if samples[e].len() <= i {
                    samples[e].push((row, Vec::new()));
                }
                samples[e][i].1.push(ns);
            }
        }
    }
    println!(
        "median ns/op of {runs} runs ({ops} ops per thread per get row, {} per insert row; libcache {})",
        ops / 2,
        libcache::library_version()
    );
    println!(
        "| workload | {} | {} | {} | libcache vs moka |",
        names[0], names[1], names[2]
    );
    println!("|---|---:|---:|---:|---:|");
    let mut all_faster = true;
    for i in 0..samples[0].len() {
        let row = samples[0][i].0.clone();
        let m: Vec<f64> = (0..3).map(|e| median(&mut samples[e][i].1)).collect();
        all_faster &= m[0] < m[1];
        println!(
            "| {row} | {:.1} | {:.1} | {:.1} | {:.2}x |",
            m[0],
            m[1],
            m[2],
            m[1] / m[0]
        );
    }
    println!(
        "libcache faster than moka on every row: {}",
        if all_faster { "yes" } else { "no" }
    );
}
