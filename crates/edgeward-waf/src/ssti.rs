//! Server-side template injection: expressions inside template delimiters that reach the
//! template engine's objects, evaluate a probe, or use an engine's directives.
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-ssti-1000` | object traversal in a template (`{{''.__class__.__mro__}}`, `{{config}}`, `{{self._TemplateReference__context}}`) |
//! | `waf-ssti-1001` | an arithmetic probe in delimiters (`{{7*7}}`, `${7*'7'}`, `<%= 7*7 %>`, `#{7*7}`) |
//! | `waf-ssti-1002` | engine directives (`<#assign`, `?new()`, `#set(`, `{php}`, `{{constructor.constructor(`) |
//!
//! Does not own: Java EL reaching the runtime (`java`), SSI (`ssi`).

use crate::find::{ByteSet, Hay};
use crate::Strength;

/// Template globals and Python object-graph steps that only template injection writes.
const TRAVERSAL: &[&[u8]] = &[
    b"__class__",
    b"__mro__",
    b"__subclasses__",
    b"__globals__",
    b"__builtins__",
    b"__import__",
    b"__base__",
    b"__init__",
    b"__getitem__",
    b"__getattribute__",
    b"_templatereference__context",
    b"config.items",
    b"config[",
    b"request.application",
    b"request.environ",
    b"lipsum.",
    b"cycler.",
    b"joiner.",
    b"namespace.",
    b"url_for.",
    b"get_flashed_messages",
    b"self._",
    b"|attr(",
    b"os.popen",
    b"subprocess",
    b"_self.env",
    b"registerundefinedfiltercallback",
    b"getfilter(",
    b"['constructor']",
    b"range.constructor",
];

const DIRECTIVES: &[(&[u8], Strength)] = &[
    (b"<#assign", Strength::Strong),
    (b"[#assign", Strength::Strong),
    (b"freemarker.template.utility", Strength::Strong),
    (b"?new(", Strength::Strong),
    (b"?api.", Strength::Strong),
    (b"#set(", Strength::Strong),
    (b"#set (", Strength::Strong),
    (b"$class.inspect", Strength::Strong),
    (b"#foreach(", Strength::Medium),
    (b"{php}", Strength::Strong),
    (b"{/php}", Strength::Strong),
    (b"{$smarty.", Strength::Strong),
    (b"{system(", Strength::Strong),
    (b"{if system(", Strength::Strong),
    (b"constructor.constructor(", Strength::Strong),
    (b"{{$on.constructor", Strength::Strong),
    (b"{{{}.constructor", Strength::Strong),
    (b"{{'a'.constructor", Strength::Strong),
    (b"{{#with", Strength::Medium),
    (b"{{range", Strength::Medium),
    (b"<%= system", Strength::Strong),
    (b"<%= `", Strength::Strong),
    (b"<%= file.", Strength::Strong),
    (b"<%= io.popen", Strength::Strong),
    (b"@(system.", Strength::Strong),
    (b"@system.", Strength::Medium),
    (b"{% import", Strength::Strong),
    (b"{%import", Strength::Strong),
    (b"{% debug", Strength::Medium),
    (b"{{dump(", Strength::Strong),
    (b"{{app.request", Strength::Strong),
    (b"{{_self", Strength::Strong),
    (b"${self.module", Strength::Strong),
    (b"<%import os", Strength::Strong),
];

/// Opening and closing delimiters of the common engines.
const DELIMS: &[(&[u8], &[u8])] = &[
    (b"{{", b"}}"),
    (b"{%", b"%}"),
    (b"${", b"}"),
    (b"#{", b"}"),
    (b"*{", b"}"),
    (b"@{", b"}"),
    (b"<%=", b"%>"),
    (b"<%", b"%>"),
    (b"[[", b"]]"),
    (b"{=", b"}"),
    (b"@(", b")"),
    (b"{", b"}"),
];

/// Looks for template injection in a lowercased, decoded value.
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    if !set.has_any(b"{<[@?#$") {
        return None;
    }
    let b = s.as_bytes();
    let h = Hay::new(b, set);
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, st: Strength| {
        if best.map_or(true, |b| st < b.1) {
            best = Some((id, st));
        }
    };
    for (d, st) in DIRECTIVES {
        if h.contains(d) {
            note("waf-ssti-1002", *st);
        }
    }
    for (open, close) in DELIMS {
        for at in h.find_iter(open) {
            let inner_start = at + open.len();
            let window = &b[inner_start..b.len().min(inner_start + 256)];
            let inner = match crate::find::find(window, close) {
                Some(e) => &window[..e],
                None if open.len() > 1 => window,
                None => continue,
            };
            if TRAVERSAL.iter().any(|t| crate::find::contains(inner, t)) {
                note("waf-ssti-1000", Strength::Strong);
            } else if arithmetic(inner) {
                note(
                    "waf-ssti-1001",
                    if open.len() > 1 {
                        Strength::Medium
                    } else {
                        Strength::Weak
                    },
                );
            } else if open == b"{{" && inner.trim_ascii().starts_with(b"config")
                || matches!(*open, b"{{" | b"{%" | b"${") && globals(inner)
            {
                note("waf-ssti-1000", Strength::Medium);
            }
        }
    }
    // Object traversal outside delimiters, from a string or tuple literal.
    if set.has(b'_')
        && (h.contains(b"''.__class__") || h.contains(b"\"\".__class__") || h.contains(b"().__class__"))
    {
        note("waf-ssti-1000", Strength::Strong);
    }
    best
}

/// `7*7`, `7*'7'`, `1+1`, `99-1`: an expression a probe would evaluate.
fn arithmetic(inner: &[u8]) -> bool {
    let t: Vec<u8> = inner
        .iter()
        .copied()
        .filter(|c| !matches!(c, b' ' | b'\'' | b'"'))
        .collect();
    let Some(op) = t
        .iter()
        .position(|c| matches!(c, b'*' | b'+' | b'/' | b'-' | b'%'))
    else {
        return false;
    };
    let (a, rest) = t.split_at(op);
    let b = &rest[1..];
    !a.is_empty()
        && !b.is_empty()
        && a.iter().all(u8::is_ascii_digit)
        && b.iter().all(u8::is_ascii_digit)
        && a.len() <= 6
}

/// Template-engine globals accessed as objects (`{{request.args}}`, `{{settings.SECRET_KEY}}`).
fn globals(inner: &[u8]) -> bool {
    let t = inner.trim_ascii();
    [
        &b"request."[..],
        b"settings.",
        b"self.",
        b"app.",
        b"environment.",
        b"_context",
        b"range(",
        b"cycler",
        b"lipsum",
        b"joiner",
        b"namespace",
    ]
    .iter()
    .any(|g| t.starts_with(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        let l = s.to_ascii_lowercase();
        detect_in(&l, ByteSet::of(l.as_bytes()))
            .filter(|h| h.1 != Strength::Weak)
            .map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(
            rule("{{''.__class__.__mro__[1].__subclasses__()}}"),
            Some("waf-ssti-1000")
        );
        assert_eq!(rule("{{config.items()}}"), Some("waf-ssti-1000"));
        assert_eq!(rule("{{7*7}}"), Some("waf-ssti-1001"));
        assert_eq!(rule("${7*7}"), Some("waf-ssti-1001"));
        assert_eq!(rule("<%= 7*7 %>"), Some("waf-ssti-1001"));
        assert_eq!(
            rule("<#assign ex=\"freemarker.template.utility.Execute\"?new()>${ex(\"id\")}"),
            Some("waf-ssti-1002")
        );
        assert_eq!(rule("#set($x=1)"), Some("waf-ssti-1002"));
        assert_eq!(
            rule("{{constructor.constructor('alert(1)')()}}"),
            Some("waf-ssti-1002")
        );
    }

    #[test]
    fn leaves_prose_alone() {
        for ok in [
            "hello {{name}}",
            "{\"a\":1}",
            "function(){ return 1 }",
            "{x: 7}",
            "[[link]]",
            "{% if user %}",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
