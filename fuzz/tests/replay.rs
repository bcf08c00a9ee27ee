//! Replays every seed (and any local corpus or artifact) through its fuzz target on stable.
//!
//! Seeds live in `seeds/<target>/` (committed); `corpus/` and `artifacts/` are
//! libFuzzer's local output (git-ignored) and are replayed when present.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["seeds", "corpus", "artifacts"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    assert!(files.len() >= 10, "{target}: only {} seed files", files.len());
    let failed: Vec<_> = files
        .iter()
        .filter(|f| {
            // A running fuzzer may delete corpus files while they are listed.
            let Ok(data) = std::fs::read(f) else {
                return false;
            };
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: invariants broken by {failed:#?}");
}

#[test]
fn codec_head_seeds() {
    replay("codec_head", edgeward_fuzz::codec_head);
}

#[test]
fn codec_body_seeds() {
    replay("codec_body", edgeward_fuzz::codec_body);
}

#[test]
fn codec_pipeline_seeds() {
    replay("codec_pipeline", edgeward_fuzz::codec_pipeline);
}
