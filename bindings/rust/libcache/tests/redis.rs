//! RedisStore against a real redis-server (started on a free loopback port
//! and stopped by the tests): write-behind then read-through from a second
//! cache, flush and stats, write-through, and Redis going down for real.
#![cfg(feature = "redis")]

use libcache::{Cache, Error, Expiry, OnFull, RedisOptions, RedisStore};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A redis-server of the test's own, killed (SIGKILL) and its directory
/// removed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    fn start() -> RedisServer {
        let server = std::env::var("REDIS_SERVER").unwrap_or_else(|_| REDIS_SERVER.into());
        let dir = std::env::temp_dir().join(format!("libcache-rust-redis-{}-{:?}", std::process::id(), thread_id()));
        std::fs::create_dir_all(&dir).unwrap();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new(&server)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(&dir)
                .env_remove("LD_PRELOAD")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {server}: {e} (apt-get install redis-server)"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                if let Ok(mut c) = Client::connect(port) {
                    if c.command(&[b"PING"]) == Reply::Status("PONG".into()) {
                        return RedisServer { child, port, dir };
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn client(&self) -> Client {
        Client::connect(self.port).unwrap()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn thread_id() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    h.finish()
}

#[derive(Debug, PartialEq)]
enum Reply {
    Status(String),
    Bulk(Option<Vec<u8>>),
    Int(i64),
    Error(String),
}

/// Just enough RESP to check what Redis holds.
struct Client(BufReader<TcpStream>);

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Client(BufReader::new(s)))
    }

    fn command(&mut self, args: &[&[u8]]) -> Reply {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.0.get_mut().write_all(&req).unwrap();
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        let (kind, rest) = line.trim_end().split_at(1);
        match kind {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut buf = vec![0u8; n as usize + 2];
                self.0.read_exact(&mut buf).unwrap();
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
            other => panic!("unexpected reply {other}{rest}"),
        }
    }

    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        match self.command(&[b"GET", key]) {
            Reply::Bulk(v) => v,
            other => panic!("GET: {other:?}"),
        }
    }
}

fn cache() -> Cache {
    Cache::builder().max_bytes(16 << 20).build().unwrap()
}

fn opts(prefix: &str) -> RedisOptions {
    RedisOptions::new()
        .prefix(prefix)
        .timeouts(Duration::from_millis(500), Duration::from_millis(500))
}

#[test]
fn write_behind_then_read_through_from_a_second_cache() {
    let server = RedisServer::start();
    let writer = cache();
    let w = RedisStore::attach(&writer, &server.url(), &opts("t:")).unwrap();
    writer
        .insert_with_ttl(b"k", b"\x00\xffvalue", Duration::from_secs(60))
        .unwrap();
    writer.insert_with_ttl(b"forever", b"f", Expiry::Never).unwrap();
    w.flush(Duration::from_secs(5)).unwrap();
    let mut redis = server.client();
    assert_eq!(
        redis.get(b"t:k").as_deref(),
        Some(&b"\x00\xffvalue"[..]),
        "written behind under the prefix"
    );
    match redis.command(&[b"PTTL", b"t:k"]) {
        Reply::Int(ms) => assert!(ms > 50_000 && ms <= 60_000, "PTTL {ms}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(redis.command(&[b"PTTL", b"t:forever"]), Reply::Int(-1));
    let s = w.stats();
    assert!(s.flushed_ops >= 2 && s.queued_ops == 0, "{s:?}");

    // A second cache reads the key through (a local miss), with its TTL.
    let reader = cache();
    let r = RedisStore::attach(&reader, &server.url(), &opts("t:")).unwrap();
    assert_eq!(reader.get(b"k").unwrap(), b"\x00\xffvalue");
    assert_eq!(reader.stats().entries, 1, "the loaded value is kept locally");
    match reader.ttl(b"k") {
        Some(Expiry::After(d)) => assert!(d > Duration::from_secs(50) && d <= Duration::from_secs(60), "{d:?}"),
        other => panic!("{other:?}"),
    }
    assert!(reader.get(b"absent").is_none());
    let rs = r.stats();
    assert!(rs.read_hits >= 1 && rs.read_misses >= 1, "{rs:?}");

    // A remove is written behind as a DEL.
    writer.remove(b"k");
    w.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(redis.get(b"t:k"), None);
    assert_eq!(w.close(Duration::from_secs(5)), 0);
    // Detached: later writes stay local.
    writer.insert(b"local", b"only").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(redis.get(b"t:local"), None);
    drop(r);
}

#[test]
fn insert_sync_writes_through_and_attach_refuses_a_second_store() {
    let server = RedisServer::start();
    let c = cache();
    let store = RedisStore::attach(&c, &server.url(), &opts("s:")).unwrap();
    store
        .insert_sync(b"k", b"sync", Duration::from_secs(30), Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        server.client().get(b"s:k").as_deref(),
        Some(&b"sync"[..]),
        "in Redis when it returns"
    );
    assert_eq!(c.get(b"k").unwrap(), b"sync");
    store.remove_sync(b"k", Duration::from_secs(5)).unwrap();
    assert_eq!(server.client().get(b"s:k"), None);
    assert!(c.get(b"k").is_none());
    assert_eq!(
        store.insert_sync(b"k", b"v", MAX_TTL_PLUS, Duration::from_secs(1)),
        Err(Error::InvalidArgument)
    );

    let again = RedisStore::attach(&c, &server.url(), &opts("s:")).unwrap_err();
    assert_eq!(again.error, Error::Exists);
}

const MAX_TTL_PLUS: Duration = Duration::from_millis((1 << 62) + 1);

#[test]
fn the_store_keeps_the_engine_open_after_the_cache_is_dropped() {
    let server = RedisServer::start();
    let c = cache();
    let store = RedisStore::attach(&c, &server.url(), &opts("d:")).unwrap();
    c.insert(b"k", b"v").unwrap();
    drop(c);
    store.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(server.client().get(b"d:k").as_deref(), Some(&b"v"[..]));
    assert_eq!(store.close(Duration::from_secs(1)), 0);
}

#[test]
fn bad_urls_and_an_unreachable_redis_are_clear_errors() {
    let c = cache();
    let e = RedisStore::attach(&c, "http://nowhere", &RedisOptions::new()).unwrap_err();
    assert_eq!(e.error, Error::InvalidArgument);
    assert!(!e.reason.is_empty(), "{e}");
    let e = RedisStore::attach(&c, "redis://127.0.0.1:1\0/0", &RedisOptions::new()).unwrap_err();
    assert_eq!(e.error, Error::InvalidArgument);
    let e = RedisStore::attach(
        &c,
        "redis://127.0.0.1:6379/0",
        &RedisOptions::new().timeouts(Duration::ZERO, Duration::ZERO),
    )
    .unwrap_err();
    assert_eq!(e.error, Error::InvalidArgument, "{e}");

    // Nothing listens on this port.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = RedisStore::attach(&c, &format!("redis://127.0.0.1:{port}/0"), &opts("x:")).unwrap_err();
    assert_eq!(e.error, Error::Io);
    assert!(e.to_string().starts_with("cannot attach Redis: "), "{e}");
    assert!(!e.reason.is_empty());
    // The cache is unharmed and unlinked.
    c.insert(b"k", b"v").unwrap();
    assert_eq!(c.get(b"k").unwrap(), b"v");
}

#[test]
fn redis_going_down_gives_errors_not_hangs_and_local_writes_go_on() {
    let mut server = RedisServer::start();
    let c = cache();
    let store = RedisStore::attach(
        &c,
        &server.url(),
        &opts("down:")
            .read_through(true, Duration::from_millis(200))
            .on_full(OnFull::Fail),
    )
    .unwrap();
    c.insert(b"before", b"1").unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    server.kill();

    // Writes stay local-speed and local; Redis's absence shows in flush and stats.
    c.insert(b"after", b"2").unwrap();
    assert_eq!(c.get(b"after").unwrap(), b"2");
    assert_eq!(store.flush(Duration::from_millis(300)), Err(Error::Timeout));
    // A miss reads through, fails within the read timeout, and is a miss.
    let t = Instant::now();
    assert!(c.get(b"never-written").is_none());
    assert!(t.elapsed() < Duration::from_secs(5));
    let s = store.stats();
    assert!(s.queued_ops >= 1, "{s:?}");
    assert!(store.last_error().is_some());
    assert!(s.store_errors + s.read_errors + s.connect_errors >= 1, "{s:?}");
    // close gives up within its timeout and says how many writes were lost.
    let unflushed = store.close(Duration::from_millis(200));
    assert!(unflushed >= 1, "{unflushed}");
    // (Coherence dropped the clean local copy of "before" when tracking was
    // lost: with Redis gone nobody vouches for it.) The cache goes on alone.
    c.insert(b"later", b"3").unwrap();
    assert_eq!(c.get(b"later").unwrap(), b"3");
}

#[test]
fn a_full_queue_refuses_writes_with_full_and_leaves_the_cache_unchanged() {
    let mut server = RedisServer::start();
    let c = cache();
    let store = RedisStore::attach(
        &c,
        &server.url(),
        &opts("q:").max_queue(1 << 20, 1).on_full(OnFull::Fail),
    )
    .unwrap();
    c.insert(b"a", b"old").unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    server.kill(); // nothing drains the queue any more
    c.insert(b"first", b"queued").unwrap();
    assert_eq!(c.insert(b"second", b"refused"), Err(Error::Full));
    assert_eq!(
        c.insert(b"first", b"again"),
        Err(Error::Full),
        "a write of a waiting key needs room too"
    );
    assert_eq!(c.get(b"first").unwrap(), b"queued", "the refused write changed nothing");
    assert!(store.stats().refused_full >= 2);
    store.close(Duration::ZERO);
}

#[test]
fn a_write_elsewhere_replaces_the_local_copy() {
    let server = RedisServer::start();
    let (a, b) = (cache(), cache());
    let sa = RedisStore::attach(&a, &server.url(), &opts("c:")).unwrap();
    let sb = RedisStore::attach(&b, &server.url(), &opts("c:")).unwrap();
    a.insert(b"k", b"v1").unwrap();
    sa.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(b.get(b"k").unwrap(), b"v1"); // read through, kept locally
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sb.stats().tracking {
        assert!(Instant::now() < deadline, "tracking never came up: {:?}", sb.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    a.insert(b"k", b"v2").unwrap();
    sa.flush(Duration::from_secs(5)).unwrap();
    // The invalidation arrives asynchronously: wait for it, with a generous deadline.
    loop {
        let v = b.get(b"k").unwrap();
        if v == b"v2" {
            break;
        }
        assert_eq!(v, b"v1");
        assert!(Instant::now() < deadline, "b still serves v1: {:?}", sb.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(sb.stats().invalidation_messages >= 1);
}
