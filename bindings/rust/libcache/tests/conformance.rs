//! The language-neutral conformance suite (tests/conformance/cases.json at the
//! repository's root; its format in tests/conformance/README.md) through the
//! Rust API: every case is replayed and every failing step reported, with
//! the case's name, the step's index, the expected and the actual outcome.
//!
//! Mapping to the Rust idiom: a miss is `None` ("missing"); add/replace
//! returning `Ok(false)` is `exists` / `not_found`; an `Err(Error)` is
//! `{"error": Error::name()}`; a case's `ttl_ms` goes through
//! `Expiry::from_millis` (0 = never, a negative count is refused with
//! `invalid` before the cache is touched, as the C ABI refuses it); the
//! `policy` name through `Policy::from_str`; `clock: "manual"` is
//! `experimental::ManualClock`.
use libcache::experimental::ManualClock;
use libcache::{Cache, Error, Expiry, Policy};
use serde_json::{json, Value as Json};
use std::time::Duration;

fn cases() -> Vec<Json> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../tests/conformance/cases.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let doc: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["version"], 1, "unknown cases.json version");
    doc["cases"].as_array().unwrap().clone()
}

/// BYTES: a string (its UTF-8), {"hex": ...} or {"repeat": s, "times": n}.
fn bytes(spec: &Json) -> Vec<u8> {
    if let Some(s) = spec.as_str() {
        return s.as_bytes().to_vec();
    }
    if let Some(hex) = spec.get("hex").and_then(Json::as_str) {
        return (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
    }
    let unit = spec["repeat"].as_str().unwrap();
    unit.repeat(spec["times"].as_u64().unwrap() as usize).into_bytes()
}

fn error(e: Error) -> Json {
    json!({ "error": e.name() })
}

/// A value as the expectation's form: {"value": [bytes...]} so that bytes
/// that are not UTF-8 compare exactly.
fn value(v: Option<&[u8]>) -> Json {
    match v {
        None => json!("missing"),
        Some(b) => json!({ "value": b }),
    }
}

fn expiry(step: &Json) -> Result<Expiry, Error> {
    match step.get("ttl_ms") {
        None => Ok(Expiry::Default),
        Some(ms) => Expiry::from_millis(ms.as_i64().unwrap()),
    }
}

fn open(spec: &Json, clock: &ManualClock) -> Result<Cache, Error> {
    let mut b = Cache::builder();
    if let Some(n) = spec.get("max_bytes") {
        b = b.max_bytes(n.as_u64().unwrap());
    }
    if let Some(n) = spec.get("max_entries") {
        b = b.max_entries(n.as_u64().unwrap());
    }
    if let Some(n) = spec.get("shards") {
        b = b.shards(u32::try_from(n.as_u64().unwrap()).map_err(|_| Error::InvalidArgument)?);
    }
    if let Some(ms) = spec.get("default_ttl_ms").and_then(Json::as_u64) {
        if ms > 0 {
            b = b.ttl(Duration::from_millis(ms)); // 0: no default TTL, the builder's default
        }
    }
    if let Some(p) = spec.get("policy") {
        b = b.policy(p.as_str().unwrap().parse::<Policy>()?);
    }
    if spec.get("clock").and_then(Json::as_str) == Some("manual") {
        b = b.manual_clock(clock);
    }
    b.build()
}

fn run_step(cache: &Cache, clock: &ManualClock, step: &Json) -> Json {
    let op = step["op"].as_str().unwrap();
    let key = step.get("key").map(bytes).unwrap_or_default();
    let write = |r: Result<bool, Error>, no: Error| match r {
        Ok(true) => json!("ok"),
        Ok(false) => error(no),
        Err(e) => error(e),
    };
    match op {
        "set" | "add" | "replace" => {
            let v = bytes(&step["value"]);
            let ttl = match expiry(step) {
                Ok(t) => t,
                Err(e) => return error(e),
            };
            match op {
                "set" => write(cache.insert_with_ttl(&key, &v, ttl).map(|()| true), Error::Internal),
                "add" => write(cache.insert_if_absent_with_ttl(&key, &v, ttl), Error::Exists),
                _ => write(cache.replace_with_ttl(&key, &v, ttl), Error::NotFound),
            }
        }
        "get" => value(cache.get(&key).as_deref()),
        "has" => json!(cache.contains_key(&key)),
        "delete" => json!(cache.remove(&key)),
        "take" => value(cache.take(&key).as_deref()),
        "touch" => match expiry(step).and_then(|t| cache.touch(&key, t)) {
            Ok(b) => json!(b),
            Err(e) => error(e),
        },
        "ttl" => match cache.ttl(&key) {
            None => json!("missing"),
            Some(Expiry::Never) => json!("none"),
            Some(Expiry::After(d)) => json!({ "ms": d.as_millis() as u64 }),
            Some(Expiry::Default) => json!("default?"),
        },
        "clear" => {
            cache.clear();
            json!("ok")
        }
        "purge_expired" => json!({ "count": cache.purge_expired() }),
        "advance" => {
            clock.advance(Duration::from_millis(step["ms"].as_u64().unwrap()));
            Json::Null
        }
        "stats" => {
            let s = cache.stats();
            let mut got = serde_json::Map::new();
            for (name, want) in step["expect"].as_object().unwrap() {
                let v = match name.as_str() {
                    "hits" => s.hits,
                    "misses" => s.misses,
                    "sets" => s.sets,
                    "deletes" => s.deletes,
                    "evictions" => s.evictions,
                    "expirations" => s.expirations,
                    "entries" => s.entries,
                    "bytes_at_most" => {
                        let limit = want.as_u64().unwrap();
                        if s.bytes <= limit {
                            limit
                        } else {
                            s.bytes
                        }
                    }
                    other => panic!("unknown stats field {other}"),
                };
                got.insert(name.clone(), json!(v));
            }
            Json::Object(got)
        }
        other => panic!("unknown op {other}"),
    }
}

fn expected(step: &Json) -> Json {
    let e = &step["expect"];
    match e.get("value") {
        Some(v) => json!({ "value": bytes(v) }),
        None => e.clone(),
    }
}

fn short(j: &Json) -> String {
    let s = j.to_string();
    if s.len() > 200 {
        format!("{}... ({} characters)", &s[..200], s.len())
    } else {
        s
    }
}

/// Runs one case; the first failing step's description, if any.
fn run_case(c: &Json) -> Result<(), String> {
    let name = c["name"].as_str().unwrap();
    let clock = ManualClock::new();
    let opened = open(&c["open"], &clock);
    if let Some(want) = c.get("open_error") {
        return match opened {
            Ok(_) => Err(format!("case {name}: the open succeeded, expected {want}")),
            Err(e) if e.name() == want => Ok(()),
            Err(e) => Err(format!("case {name}: open failed with {}, expected {want}", e.name())),
        };
    }
    let cache = opened.map_err(|e| format!("case {name}: open failed: {e}"))?;
    for (i, step) in c["steps"].as_array().unwrap().iter().enumerate() {
        let got = run_step(&cache, &clock, step);
        if step["op"] == "advance" {
            continue;
        }
        let want = expected(step);
        if got != want {
            let mut shown = step.clone();
            shown.as_object_mut().unwrap().remove("expect");
            return Err(format!(
                "case {name}, step {i} ({}): expected {}, got {}",
                short(&shown),
                short(&want),
                short(&got)
            ));
        }
    }
    Ok(())
}

#[test]
fn conformance_suite() {
    let cases = cases();
    assert!(cases.len() >= 78, "only {} cases in cases.json", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    println!(
        "conformance: {} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The runner itself notices a wrong outcome (a case edited to expect
/// something else fails).
#[test]
fn runner_reports_a_wrong_expectation() {
    let mut c = cases().into_iter().find(|c| c["name"] == "set_then_get").unwrap();
    c["steps"][1]["expect"] = json!({ "value": "not v" });
    let err = run_case(&c).unwrap_err();
    assert!(err.contains("set_then_get, step 1"), "{err}");
}
