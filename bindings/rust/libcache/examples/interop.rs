//! The interoperability agent every binding ships (Python, Node.js, Go, Rust):
//! values written by one language through one Redis are read by the others.
//!
//!   interop write <redis-url> <lang>   writes <lang>:bytes, <lang>:str and
//!                                      <lang>:json under the prefix interop:,
//!                                      flushes, prints ok
//!   interop read <redis-url> <lang>    reads what writer <lang> wrote (a local
//!                                      miss reads through), checks it, prints
//!                                      ok, or what differed (exit 1)
//!
//! The values, in the tagged format of docs/value-format.md: bytes 00 ff +
//! <lang> (tag b), the string "héllo from <lang> ✓" (tag s), and the JSON
//! value {"list":[1,2.5,null,true],"s":"x"} (tag c).
//!
//! Build: cargo build --example interop --features redis
use libcache::format::Tagged;
use libcache::{Cache, RedisOptions, RedisStore};
use serde_json::{json, Value as Json};
use std::process::ExitCode;
use std::time::Duration;

fn expected_bytes(lang: &str) -> Vec<u8> {
    [&[0x00u8, 0xff][..], lang.as_bytes()].concat()
}

fn expected_str(lang: &str) -> String {
    format!("héllo from {lang} ✓")
}

fn expected_json() -> Json {
    json!({"list": [1, 2.5, null, true], "s": "x"})
}

/// JSON equality with numbers compared by value (1 and 1.0 are equal: each
/// language's encoder writes numbers its own way).
fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn attach(url: &str) -> Result<(Cache, RedisStore), Box<dyn std::error::Error>> {
    let cache = Cache::builder().max_bytes(16 << 20).build()?;
    let opts = RedisOptions::new()
        .prefix("interop:")
        .timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .read_through(true, Duration::from_secs(2));
    let store = RedisStore::attach(&cache, url, &opts)?;
    Ok((cache, store))
}

fn write(url: &str, lang: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (cache, store) = attach(url)?;
    let json_text = serde_json::to_vec(&expected_json())?;
    cache.insert(
        format!("{lang}:bytes").as_bytes(),
        &Tagged::Bytes(&expected_bytes(lang)).encode(),
    )?;
    cache.insert(
        format!("{lang}:str").as_bytes(),
        &Tagged::Str(&expected_str(lang)).encode(),
    )?;
    cache.insert(format!("{lang}:json").as_bytes(), &Tagged::Json(&json_text).encode())?;
    store.flush(Duration::from_secs(5))?;
    let unflushed = store.close(Duration::from_secs(5));
    if unflushed != 0 {
        return Err(format!("{unflushed} writes did not reach Redis").into());
    }
    Ok(())
}

/// The differences found, one line each.
fn read(url: &str, lang: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let (cache, store) = attach(url)?;
    let mut diffs = Vec::new();
    let mut fetch = |suffix: &str| {
        let key = format!("{lang}:{suffix}");
        match cache.get(key.as_bytes()) {
            None => {
                diffs.push(format!("{key}: missing (not in Redis under interop:{key})"));
                None
            }
            Some(v) => Some((key, v)),
        }
    };
    let got_bytes = fetch("bytes");
    let got_str = fetch("str");
    let got_json = fetch("json");
    if let Some((key, v)) = got_bytes {
        match Tagged::decode(&v) {
            Ok(Tagged::Bytes(b)) if b == expected_bytes(lang) => {}
            other => diffs.push(format!(
                "{key}: expected bytes {:?}, got {other:?}",
                expected_bytes(lang)
            )),
        }
    }
    if let Some((key, v)) = got_str {
        match Tagged::decode(&v) {
            Ok(Tagged::Str(s)) if s == expected_str(lang) => {}
            other => diffs.push(format!(
                "{key}: expected string {:?}, got {other:?}",
                expected_str(lang)
            )),
        }
    }
    if let Some((key, v)) = got_json {
        match Tagged::decode(&v) {
            Ok(Tagged::Json(text)) => match serde_json::from_slice::<Json>(text) {
                Ok(j) if json_eq(&j, &expected_json()) => {}
                Ok(j) => diffs.push(format!("{key}: expected JSON {}, got {j}", expected_json())),
                Err(e) => diffs.push(format!("{key}: not JSON ({e}): {}", String::from_utf8_lossy(text))),
            },
            other => diffs.push(format!("{key}: expected a JSON (tag c) value, got {other:?}")),
        }
    }
    store.close(Duration::from_secs(1));
    Ok(diffs)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (mode, url, lang) = match &args[1..] {
        [m, u, l] if m == "write" || m == "read" => (m.as_str(), u.as_str(), l.as_str()),
        _ => {
            eprintln!("usage: interop write|read <redis-url> <lang>");
            return ExitCode::from(2);
        }
    };
    let outcome = match mode {
        "write" => write(url, lang).map(|()| Vec::new()),
        _ => read(url, lang),
    };
    match outcome {
        Ok(diffs) if diffs.is_empty() => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Ok(diffs) => {
            for d in diffs {
                eprintln!("interop read {lang}: {d}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("interop {mode} {lang}: {e}");
            ExitCode::FAILURE
        }
    }
}
