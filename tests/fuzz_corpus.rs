//! Replays every fuzz target's seed corpus (`fuzz/seeds/<target>/`) and
//! every input that ever crashed it (`fuzz/regressions/<target>/`) through
//! the same functions the cargo-fuzz targets call, on every `cargo test`:
//! the targets keep building, and a fixed crash stays fixed.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        files.extend(entries.map(|e| e.expect("corpus entry").path()));
    }
    // Smallest first, as libFuzzer reads a corpus: the delivery target's
    // store lives across inputs, so the order is part of the input.
    files.sort_by_key(|p| {
        (
            std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            p.clone(),
        )
    });
    let mut n = 0;
    {
        for path in files {
            let data = std::fs::read(&path).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "no corpus for {target} under {}", root.display());
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            replay(stringify!($name), gatebot::testing::fuzzing::$name);
        }
    )*};
}

targets!(signature, events, commands, config, delivery);
