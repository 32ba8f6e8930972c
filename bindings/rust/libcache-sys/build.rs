// Finds libcache with pkg-config (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig for
// a staged install) and tells cargo how to link it: libcache.so.1 by default,
// libcache.a and its Libs.private (-lstdc++ -lm -lpthread -ldl) with the
// `static` feature, and libcache_redis.so.1 with `redis`. The include
// directory goes to dependents as DEP_CACHE_INCLUDE (links = "cache") and to
// this crate's header-sync test as LIBCACHE_SYS_INCLUDE.
use std::path::PathBuf;

fn probe(name: &str, statik: bool) -> pkg_config::Library {
    match pkg_config::Config::new()
        .atleast_version("1.6")
        .statik(statik)
        .cargo_metadata(false)
        .probe(name)
    {
        Ok(lib) => lib,
        Err(e) => panic!(
            "libcache-sys: pkg-config could not find {name} >= 1.6: {e}\n\
             Install libcache (cmake --install build --prefix <prefix>) and set \
             PKG_CONFIG_PATH=<prefix>/lib/pkgconfig{}",
            if name == "libcache-redis" {
                " (hiredis's .pc must be there too)"
            } else {
                ""
            }
        ),
    }
}

fn search(paths: &[PathBuf]) {
    for dir in paths {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    let statik = std::env::var_os("CARGO_FEATURE_STATIC").is_some();
    let redis = std::env::var_os("CARGO_FEATURE_REDIS").is_some();
    if statik && redis {
        return; // lib.rs's compile_error! says why
    }

    let lib = probe("libcache", statik);
    search(&lib.link_paths);
    if statik {
        let found = lib.link_paths.iter().any(|d| d.join("libcache.a").exists());
        if !found {
            panic!(
                "libcache-sys: the `static` feature needs libcache.a next to the library \
                 pkg-config names ({:?})",
                lib.link_paths
            );
        }
        println!("cargo:rustc-link-lib=static=cache");
        // Libs.private: the C++ runtime and what the engine calls from libc.
        for l in lib.libs.iter().filter(|l| l.as_str() != "cache") {
            println!("cargo:rustc-link-lib=dylib={l}");
        }
    } else {
        println!("cargo:rustc-link-lib=dylib=cache");
    }
    if redis {
        let r = probe("libcache-redis", false);
        search(&r.link_paths);
        println!("cargo:rustc-link-lib=dylib=cache_redis");
    }
    if let Some(inc) = lib.include_paths.first() {
        println!("cargo:include={}", inc.display());
        println!("cargo:rustc-env=LIBCACHE_SYS_INCLUDE={}", inc.display());
    }
    if let Some(dir) = lib.link_paths.first() {
        println!("cargo:libdir={}", dir.display());
    }
}
