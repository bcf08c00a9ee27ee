//! The pre-filter changes no verdict: every hit with the byte-class gates on equals every
//! hit with them off ([`Gates::Off`] opens every gate and skip), on every line of the corpus
//! (as sent and decoded) and on generated inputs built from attack fragments, prose and
//! punctuation with a fixed seed.
//!
//! Owns this differential check only; `engine` owns the gates it checks.

use crate::engine::{hits, Gates, Hit};

/// Deterministic xorshift64*, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const FRAGMENTS: &[&str] = &[
    "union",
    "select",
    "waitfor",
    "delay",
    "sleep",
    "and",
    "or",
    "1",
    "0",
    "5",
    "'",
    "\"",
    "=",
    "--",
    "#",
    "/*!",
    "*/",
    "(",
    ")",
    ";",
    "|",
    "&",
    "`",
    "$(",
    "${",
    "{{",
    "}}",
    "{%",
    "%}",
    "<",
    ">",
    "script",
    "svg",
    "onload",
    "alert",
    "../",
    "..",
    "\\",
    "%2e",
    "%252e",
    "%00",
    "\0",
    "etc/passwd",
    "win.ini",
    "\r\n",
    "\n",
    "set-cookie:",
    "get / http/1.1",
    "$ne",
    "[$gt]",
    "$where",
    "this.",
    ")(",
    "*)(",
    "uid=*",
    "<!entity",
    "<!doctype x [",
    "system",
    "<?php",
    "php://",
    "phpinfo()",
    "jndi:",
    "lower:j",
    "::-",
    "java.lang.runtime",
    "processbuilder",
    "ysoserial",
    "rO0AB",
    "__class__",
    "7*7",
    "<!--#exec",
    "<esi:",
    "cat",
    "id",
    "whoami",
    "/bin/sh",
    "$ifs",
    "cmd /c",
    "^",
    "?",
    "*",
    "o:8:\"a\":1:{",
    "&#39;",
    "&lt;",
    "嘊",
    "é",
    "日本",
    "hello",
    "world",
    "price",
    "the",
    "bash -i",
    "cmd.exe",
    "mshta vbscript:",
    "nc -e",
    "net user ",
    "mkfifo",
    "mapreduce",
    "db.getcollection",
    "this.password",
    "ping -n ",
    "-encodedcommand",
    "rundll32",
    "templatesimpl",
    "aced0005",
    "class.module.classloader",
    "${jndi:ldap:",
    " ",
    " ",
    " ",
    ".",
    ",",
    "-",
    "_",
    "!",
    "+",
    "@",
    "%",
    ":",
    "/",
    "[",
    "]",
    "{",
    "}",
    "~",
];

fn hits_of(v: &str, gates: Gates) -> Vec<Hit> {
    let mut out = Vec::new();
    hits(v, gates, &mut out);
    out
}

fn assert_same(v: &str) {
    assert_eq!(
        hits_of(v, Gates::On),
        hits_of(v, Gates::Off),
        "pre-filter changed the hits of {v:?}"
    );
}

#[test]
fn prefilter_changes_no_hit_on_the_corpus() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");
    let mut stack = vec![std::path::PathBuf::from(root)];
    let mut lines = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if !p.extension().is_some_and(|x| x == "txt" || x == "jsonl") {
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            for line in text.lines() {
                assert_same(line);
                assert_same(&crate::decode::percent_decode_once(line, true));
                lines += 1;
            }
        }
    }
    assert!(lines > 1000, "only {lines} corpus lines");
}

#[test]
fn prefilter_changes_no_hit_on_generated_inputs() {
    let mut rng = Rng(0x5eed_2024_0601);
    for _ in 0..40_000 {
        let n = 1 + rng.next() % 8;
        let mut v = String::new();
        for _ in 0..n {
            v.push_str(rng.pick(FRAGMENTS));
            if rng.next() % 3 == 0 {
                v.push(' ');
            }
        }
        assert_same(&v);
    }
}

/// Issue 17: these were missed with the old plain-value shortcut and caught without it.
#[test]
fn plain_word_attacks_are_seen() {
    for v in ["waitfor delay 0 0 5", "1 and sleep 5", ".."] {
        assert!(!hits_of(v, Gates::On).is_empty(), "{v}");
    }
}
