//! Runs fuzz target functions over files on stable: `replay <target> <file-or-dir>...`.
//!
//! For reproducing a libFuzzer artifact without nightly, e.g.
//! `cargo run --no-default-features --bin replay -- codec_head artifacts/codec_head/crash-…`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(name), paths) = (args.next(), args.map(PathBuf::from).collect::<Vec<_>>()) else {
        eprintln!("usage: replay <codec_head|codec_body|codec_pipeline> <file-or-dir>...");
        return ExitCode::from(2);
    };
    let Some(target) = edgeward_fuzz_target(&name) else {
        eprintln!("unknown target {name}");
        return ExitCode::from(2);
    };
    let mut files = Vec::new();
    for p in &paths {
        collect(p, &mut files);
    }
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        eprintln!("{}: {} bytes", file.display(), data.len());
        target(&data);
    }
    eprintln!("{name}: {} inputs, no invariant broken", files.len());
    ExitCode::SUCCESS
}

fn edgeward_fuzz_target(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "codec_head" => edgeward_fuzz::codec_head,
        "codec_body" => edgeward_fuzz::codec_body,
        "codec_pipeline" => edgeward_fuzz::codec_pipeline,
        _ => return None,
    })
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, files);
        }
    } else {
        files.push(path.to_owned());
    }
}
