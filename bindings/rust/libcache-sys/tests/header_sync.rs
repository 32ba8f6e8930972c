//! Keeps src/lib.rs in sync with the installed C headers, without bindgen:
//! a C file generated from lib.rs's declarations (function prototypes,
//! callback typedefs, `_Static_assert`s on every constant, struct size,
//! field offset and field type) is compiled together with the headers by the
//! system C compiler, which refuses any prototype or typedef that conflicts
//! with the header's and any assertion that fails. The lists of functions and
//! constants are compared both ways: a call added to a header without a Rust
//! declaration fails here too.
use std::collections::BTreeSet;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

const LIB_RS: &str = include_str!("../src/lib.rs");

fn include_dir() -> PathBuf {
    PathBuf::from(env!("LIBCACHE_SYS_INCLUDE"))
}

fn headers() -> Vec<&'static str> {
    let mut h = vec!["cache.h", "cache_experimental.h", "cache_store.h"];
    if cfg!(feature = "redis") {
        h.push("cache_redis.h");
    }
    h
}

/// lib.rs without comments, with whitespace runs folded to one space; the
/// redis module's items only when the feature is on.
fn rust_source() -> String {
    let mut out = String::new();
    let mut in_redis = false;
    let mut depth = 0i32;
    for line in LIB_RS.lines() {
        let code = line.split("//").next().unwrap_or("");
        if code.trim_start().starts_with("mod redis") {
            in_redis = true;
            depth = 0;
        }
        if in_redis {
            depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
            if !cfg!(feature = "redis") {
                if depth == 0 && code.contains('}') {
                    in_redis = false;
                }
                continue;
            }
            if depth == 0 && code.contains('}') {
                in_redis = false;
            }
        }
        out.push_str(code);
        out.push(' ');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits at top-level commas (not inside <> or ()).
fn split_top(s: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    let mut prev = ' ';
    for ch in s.chars() {
        let after = std::mem::replace(&mut prev, ch);
        match ch {
            '<' | '(' => depth += 1,
            '>' if after == '-' => {} // the arrow of "-> R"
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        parts.push(cur.trim().to_string());
    }
    parts
}

/// The text between the parenthesis at `open` and its match, and the rest.
fn balanced(s: &str, open: usize) -> (&str, &str) {
    let mut depth = 0;
    for (i, ch) in s[open..].char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (&s[open + 1..open + i], &s[open + i + 1..]);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {s}");
}

/// A parameter list "a: T, b: U" as C abstract types.
fn c_params(params: &str) -> String {
    let ps: Vec<String> = split_top(params)
        .iter()
        .map(|p| c_type(p.split_once(':').map_or(p.as_str(), |(_, t)| t).trim()))
        .collect();
    if ps.is_empty() {
        "void".into()
    } else {
        ps.join(", ")
    }
}

/// "fn(params) -> R" as (C return type, C parameters).
fn c_fn(sig: &str) -> (String, String) {
    let open = sig.find('(').unwrap();
    let (params, rest) = balanced(sig, open);
    let ret = rest
        .trim()
        .strip_prefix("->")
        .map_or("void".to_string(), |r| c_type(r.trim().trim_end_matches(',')));
    (ret, c_params(params))
}

/// A Rust type of lib.rs as a C abstract type name.
fn c_type(t: &str) -> String {
    let t = t.trim();
    if let Some(rest) = t.strip_prefix("*const ") {
        return format!("{} const *", c_type(rest));
    }
    if let Some(rest) = t.strip_prefix("*mut ") {
        return format!("{} *", c_type(rest));
    }
    if let Some(inner) = t.strip_prefix("Option<").and_then(|r| r.strip_suffix('>')) {
        let sig = inner.trim().strip_prefix("unsafe extern \"C\" ").expect(inner);
        let (ret, params) = c_fn(sig);
        return format!("{ret} (*)({params})");
    }
    match t {
        "c_int" => "int",
        "c_uint" => "unsigned",
        "c_char" => "char",
        "c_void" => "void",
        "usize" => "size_t",
        "u64" => "uint64_t",
        "i64" => "int64_t",
        "u32" => "uint32_t",
        other => other,
    }
    .to_string()
}

struct RustFn {
    name: String,
    ret: String,
    params: String,
}

fn rust_fns(src: &str) -> Vec<RustFn> {
    let mut fns = Vec::new();
    let mut rest = src;
    while let Some(block) = rest.find("extern \"C\" {") {
        let body_start = block + "extern \"C\" {".len();
        let body_end = body_start + rest[body_start..].find('}').unwrap();
        for decl in rest[body_start..body_end].split(';') {
            let Some(d) = decl.trim().strip_prefix("pub fn ") else {
                continue;
            };
            let open = d.find('(').unwrap();
            let (ret, params) = c_fn(&d[open..]);
            fns.push(RustFn {
                name: d[..open].trim().to_string(),
                ret,
                params,
            });
        }
        rest = &rest[body_end..];
    }
    fns
}

fn rust_consts(src: &str) -> Vec<(String, String)> {
    src.split("pub const ")
        .skip(1)
        .map(|s| {
            let decl = s.split(';').next().unwrap();
            let (name, rest) = decl.split_once(':').unwrap();
            let value = rest.split_once('=').unwrap().1.trim();
            (name.trim().to_string(), value.to_string())
        })
        .collect()
}

fn rust_typedefs(src: &str) -> Vec<(String, String, String)> {
    src.split("pub type ")
        .skip(1)
        .map(|s| {
            let (name, rest) = s.split_once('=').unwrap();
            let ty = rest.split(">;").next().unwrap().trim().to_string() + ">";
            let inner = ty.strip_prefix("Option<").unwrap().strip_suffix('>').unwrap();
            let (ret, params) = c_fn(inner.trim().strip_prefix("unsafe extern \"C\" ").unwrap());
            (name.trim().to_string(), ret, params)
        })
        .collect()
}

/// Non-opaque `pub struct NAME { pub f: T, ... }` of lib.rs: (name, [(field, C type)]).
fn rust_structs(src: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for s in src.split("pub struct ").skip(1) {
        let (name, rest) = s.split_once('{').unwrap();
        let mut depth = 1;
        let mut end = 0;
        for (i, ch) in rest.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &rest[..end];
        if body.contains("_opaque") {
            continue;
        }
        let fields = split_top(body)
            .into_iter()
            .map(|f| {
                let f = f.strip_prefix("pub ").unwrap_or(&f).to_string();
                let (n, t) = f.split_once(':').unwrap();
                (n.trim().to_string(), c_type(t))
            })
            .collect();
        out.push((name.trim().to_string(), fields));
    }
    out
}

/// Rust's own layout of each struct: size and field offsets.
fn rust_layout(name: &str) -> (usize, Vec<(&'static str, usize)>) {
    use libcache_sys::*;
    macro_rules! layout {
        ($t:ty; $($f:ident),*) => {
            (size_of::<$t>(), vec![$((stringify!($f), offset_of!($t, $f))),*])
        };
    }
    match name {
        "cache_iovec_t" => layout!(cache_iovec_t; data, size),
        "cache_stats_t" => layout!(cache_stats_t; hits, misses, sets, deletes, evictions, expirations, entries, bytes),
        "cache_store_op_t" => layout!(cache_store_op_t; kind, key, klen, value, vlen, expire_at_ms, status, reason),
        "cache_store_t" => layout!(cache_store_t; struct_size, ctx, write_batch, load, dead_letter, forked, destroy),
        "cache_link_stats_t" => layout!(cache_link_stats_t; queued_ops, queued_bytes, flushed_ops, batches, retries,
            store_errors, dead_letters, refused_full, coalesced, oldest_pending_ms, read_hits, read_misses,
            read_errors, invalidations, invalidated, conflicts, fills_refused, coherent),
        #[cfg(feature = "redis")]
        "cache_redis_stats_t" => layout!(cache_redis_stats_t; link, connects, connect_errors, fenced, coherence,
            tracking, tracking_resets, invalidation_messages, flushall_messages, health_check_age_ms),
        other => panic!("no Rust layout for struct {other}: add it to rust_layout"),
    }
}

fn header_text(name: &str) -> String {
    std::fs::read_to_string(include_dir().join("libcache").join(name))
        .unwrap_or_else(|e| panic!("cannot read {name} under {}: {e}", include_dir().display()))
}

/// Every `CACHE_API ... name(` of the headers covered.
fn header_fns() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for h in headers() {
        let text = header_text(h);
        for part in text.split("CACHE_API ").skip(1) {
            let decl = part.split('(').next().unwrap();
            let name = decl
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .rfind(|s| !s.is_empty());
            out.insert(name.unwrap().to_string());
        }
    }
    out
}

/// Every object-like `#define CACHE_*` with a value, but the version string.
fn header_consts() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for h in headers() {
        for line in header_text(h).lines() {
            let Some(rest) = line.strip_prefix("#define ") else {
                continue;
            };
            let mut it = rest.splitn(2, char::is_whitespace);
            let name = it.next().unwrap();
            let value = it.next().unwrap_or("").trim();
            if name.starts_with("CACHE_")
                && !name.contains('(')
                && !value.is_empty()
                && name != "CACHE_VERSION_STRING"
                && name != "CACHE_API"
            {
                out.insert(name.to_string());
            }
        }
    }
    out
}

fn generated_c(src: &str) -> String {
    let mut c = String::from("#include <stddef.h>\n#include <stdint.h>\n");
    for h in headers() {
        c += &format!("#include <libcache/{h}>\n");
    }
    for (name, ret, params) in rust_typedefs(src) {
        c += &format!("typedef {ret} (*{name})({params});\n");
    }
    for f in rust_fns(src) {
        c += &format!("{} {}({});\n", f.ret, f.name, f.params);
    }
    for (name, value) in rust_consts(src) {
        c += &format!("_Static_assert(({name}) == ({value}), \"{name} == {value}\");\n");
    }
    for (name, fields) in rust_structs(src) {
        let (size, offsets) = rust_layout(&name);
        let names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
        let laid: Vec<&str> = offsets.iter().map(|(f, _)| *f).collect();
        assert_eq!(names, laid, "rust_layout's fields of {name} differ from lib.rs's");
        c += &format!("_Static_assert(sizeof({name}) == {size}, \"sizeof {name}\");\n");
        for ((field, ty), (_, off)) in fields.iter().zip(&offsets) {
            c += &format!("_Static_assert(offsetof({name}, {field}) == {off}, \"offset of {name}.{field}\");\n");
            c += &format!(
                "_Static_assert(__builtin_types_compatible_p(__typeof__((({name} *)0)->{field}), {ty}), \
                 \"type of {name}.{field}\");\n"
            );
        }
    }
    c
}

fn compile(c_source: &str, name: &str) -> (bool, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(name);
    std::fs::write(&file, c_source).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c11", "-fsyntax-only", "-Wall", "-Werror", "-I"])
        .arg(include_dir())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn declarations_compile_against_the_headers() {
    let c = generated_c(&rust_source());
    let (ok, err) = compile(&c, "header_sync.c");
    assert!(
        ok,
        "lib.rs disagrees with the headers:\n{err}\n--- generated C ---\n{c}"
    );
}

#[test]
fn every_header_function_is_declared_and_no_other() {
    let rust: BTreeSet<String> = rust_fns(&rust_source()).into_iter().map(|f| f.name).collect();
    let header = header_fns();
    assert!(
        header.len() >= 50,
        "parsed only {} functions from the headers",
        header.len()
    );
    let missing: Vec<_> = header.difference(&rust).collect();
    let extra: Vec<_> = rust.difference(&header).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not in lib.rs: {missing:?}; not in the headers: {extra:?}"
    );
}

#[test]
fn every_header_constant_is_declared() {
    let rust: BTreeSet<String> = rust_consts(&rust_source()).into_iter().map(|(n, _)| n).collect();
    let header = header_consts();
    let missing: Vec<_> = header.difference(&rust).collect();
    let extra: Vec<_> = rust.difference(&header).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not in lib.rs: {missing:?}; not in the headers: {extra:?}"
    );
}

/// The check itself catches a mismatch: a prototype with a wrong parameter
/// type, a wrong constant and a wrong struct size each fail to compile.
#[test]
fn the_check_rejects_a_mismatch() {
    let src = rust_source();
    let good = generated_c(&src);
    for (from, to) in [
        (
            "int cache_delete(cache_t *, void const *, size_t)",
            "int cache_delete(cache_t *, void *, size_t)",
        ),
        ("(CACHE_E_TOO_LARGE) == (-3)", "(CACHE_E_TOO_LARGE) == (-4)"),
        ("sizeof(cache_stats_t) == 64", "sizeof(cache_stats_t) == 56"),
    ] {
        assert!(good.contains(from), "generated C lacks {from}:\n{good}");
        let (ok, _) = compile(&good.replacen(from, to, 1), "header_sync_bad.c");
        assert!(!ok, "a wrong declaration compiled: {to}");
    }
}

#[test]
fn header_and_library_versions_agree() {
    let v = unsafe { libcache_sys::cache_version_number() };
    assert_eq!(v / 100, libcache_sys::CACHE_VERSION_NUMBER / 100, "library {v}");
    assert!(v >= libcache_sys::CACHE_VERSION_NUMBER);
    let _ = Path::new("");
}
