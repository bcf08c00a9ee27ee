//! The catalog of managed rules: every id a detector or policy can report, with its family,
//! its paranoia level and what it matches.
//!
//! Owns: [`MANAGED_RULES`] and the lookup [`managed_rule`]. A rule's `level` is the lowest
//! sensitivity at which it can block: some rules also carry weaker signals that only block at
//! a higher sensitivity (a lone `../` is `waf-trav-300` at High only). Ids are stable: a rule
//! that changes meaning gets a new id.
//! Does not own: matching (the detector modules) or per-zone switches (`waf`).

use crate::{Category, Sensitivity};

/// One managed rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManagedRule {
    /// Stable id, e.g. `waf-sqli-100`.
    pub id: &'static str,
    /// The attack family.
    pub category: Category,
    /// Lowest sensitivity (paranoia level) at which the rule can block.
    pub level: Sensitivity,
    /// What it matches, for logs and documentation.
    pub description: &'static str,
}

const fn r(
    id: &'static str,
    category: Category,
    level: Sensitivity,
    description: &'static str,
) -> ManagedRule {
    ManagedRule {
        id,
        category,
        level,
        description,
    }
}

use Category as C;
use Sensitivity::{High, Low, Medium};

/// Every managed rule, by id.
pub const MANAGED_RULES: &[ManagedRule] = &[
    r(
        "waf-sqli-100",
        C::SqlInjection,
        Low,
        "UNION [ALL] SELECT with a column list",
    ),
    r(
        "waf-sqli-101",
        C::SqlInjection,
        Low,
        "literal break-out + tautology or comparison",
    ),
    r("waf-sqli-102", C::SqlInjection, Low, "stacked query"),
    r(
        "waf-sqli-103",
        C::SqlInjection,
        Medium,
        "literal break-out + comment",
    ),
    r(
        "waf-sqli-104",
        C::SqlInjection,
        Low,
        "time-based function (sleep, benchmark, waitfor delay)",
    ),
    r(
        "waf-sqli-105",
        C::SqlInjection,
        Medium,
        "system catalog or dangerous procedure",
    ),
    r(
        "waf-sqli-106",
        C::SqlInjection,
        Low,
        "error-based extraction function",
    ),
    r(
        "waf-sqli-107",
        C::SqlInjection,
        Low,
        "sub-select after an operator or break-out",
    ),
    r(
        "waf-sqli-108",
        C::SqlInjection,
        Medium,
        "unquoted tautology, logic + SQL function",
    ),
    r(
        "waf-sqli-109",
        C::SqlInjection,
        Medium,
        "clause appended after a break-out (ORDER BY n)",
    ),
    r("waf-xss-200", C::Xss, Low, "<script> tag"),
    r("waf-xss-201", C::Xss, Low, "event handler attribute"),
    r("waf-xss-202", C::Xss, Low, "script URL scheme"),
    r("waf-xss-203", C::Xss, Medium, "active-content tag"),
    r("waf-xss-204", C::Xss, Low, "data: URL carrying markup or script"),
    r(
        "waf-xss-205",
        C::Xss,
        Low,
        "srcdoc, CSS expression, -moz-binding, behavior",
    ),
    r(
        "waf-xss-206",
        C::Xss,
        Medium,
        "script sink after a string break-out",
    ),
    r("waf-trav-300", C::PathTraversal, Low, "../ directory climbing"),
    r("waf-trav-301", C::PathTraversal, Low, "sensitive system file"),
    r("waf-trav-302", C::PathTraversal, Low, "NUL byte"),
    r(
        "waf-trav-303",
        C::PathTraversal,
        Low,
        "encoded dot-dot left after decoding",
    ),
    r(
        "waf-trav-304",
        C::PathTraversal,
        Medium,
        "file: URL or Windows system path",
    ),
    r("waf-cmdi-400", C::CommandInjection, Low, "separator + command"),
    r("waf-cmdi-401", C::CommandInjection, Low, "command substitution"),
    r(
        "waf-cmdi-402",
        C::CommandInjection,
        Low,
        "$IFS or brace-expansion evasion",
    ),
    r("waf-cmdi-403", C::CommandInjection, Low, "newline + command"),
    r(
        "waf-cmdi-404",
        C::CommandInjection,
        Medium,
        "shell payload marker (/dev/tcp, nc -e, cmd /c)",
    ),
    r(
        "waf-cmdi-405",
        C::CommandInjection,
        Low,
        "Shellshock function definition",
    ),
    r(
        "waf-cmdi-406",
        C::CommandInjection,
        Medium,
        "Windows shell syntax (%COMSPEC%, ^-escaped commands, powershell)",
    ),
    r(
        "waf-cmdi-407",
        C::CommandInjection,
        Medium,
        "glob-obfuscated binary path (/???/c?t)",
    ),
    r("waf-scan-500", C::Scanner, Low, "scanner User-Agent"),
    r("waf-scan-501", C::Scanner, Low, "scanner marker header"),
    r(
        "waf-enc-600",
        C::Evasion,
        Medium,
        "double percent-encoding of an evasive character",
    ),
    r(
        "waf-java-700",
        C::Java,
        Low,
        "Log4Shell ${jndi:} lookup (also obfuscated)",
    ),
    r(
        "waf-java-701",
        C::Java,
        Medium,
        "other Log4j lookup (${env:}, ${sys:}, ${lower:}…)",
    ),
    r(
        "waf-java-702",
        C::Java,
        Low,
        "Java EL / OGNL / SpEL code execution",
    ),
    r(
        "waf-java-703",
        C::Java,
        Low,
        "serialized object or deserialization gadget",
    ),
    r(
        "waf-java-704",
        C::Java,
        Low,
        "Spring class.module.classLoader binding",
    ),
    r("waf-php-800", C::Php, Low, "PHP open tag"),
    r(
        "waf-php-801",
        C::Php,
        Low,
        "PHP stream wrapper (php://, phar://, expect://)",
    ),
    r("waf-php-802", C::Php, Medium, "PHP code-execution function call"),
    r("waf-php-803", C::Php, Medium, "serialized PHP object"),
    r(
        "waf-php-804",
        C::Php,
        Medium,
        "upload of a server-side script file",
    ),
    r("waf-php-805", C::Php, Medium, "PHP superglobal"),
    r(
        "waf-proto-900",
        C::Protocol,
        Low,
        "method not allowed in this zone",
    ),
    r(
        "waf-proto-901",
        C::Protocol,
        Medium,
        "restricted file extension or backup file",
    ),
    r(
        "waf-proto-902",
        C::Protocol,
        Medium,
        "hidden file or directory (.env, .git/)",
    ),
    r(
        "waf-proto-903",
        C::Protocol,
        Low,
        "smuggling-shaped Transfer-Encoding or Content-Length",
    ),
    r(
        "waf-proto-904",
        C::Protocol,
        Low,
        "HTTP request line smuggled inside a value",
    ),
    r(
        "waf-proto-905",
        C::Protocol,
        Medium,
        "Range header with too many ranges",
    ),
    r(
        "waf-proto-906",
        C::Protocol,
        Medium,
        "unusual charset in Content-Type",
    ),
    r("waf-proto-907", C::Protocol, Medium, "malformed multipart body"),
    r(
        "waf-proto-908",
        C::Protocol,
        High,
        "Content-Encoding the WAF cannot decode",
    ),
    r(
        "waf-proto-909",
        C::Protocol,
        Medium,
        "corrupt content-encoded body",
    ),
    r(
        "waf-proto-910",
        C::Protocol,
        Low,
        "body larger than the inspected limit",
    ),
    r("waf-proto-911", C::Protocol, Low, "decompression bomb"),
    r(
        "waf-ssti-1000",
        C::TemplateInjection,
        Low,
        "template object traversal (__class__, config, self)",
    ),
    r(
        "waf-ssti-1001",
        C::TemplateInjection,
        Medium,
        "expression probe inside template delimiters",
    ),
    r(
        "waf-ssti-1002",
        C::TemplateInjection,
        Low,
        "template engine directive (FreeMarker, Velocity, Smarty, ERB)",
    ),
    r("waf-ssi-1100", C::Ssi, Low, "server-side include directive"),
    r("waf-ssi-1101", C::Ssi, Low, "Edge Side Include tag"),
    r("waf-nosql-1200", C::NoSql, Medium, "MongoDB query operator"),
    r(
        "waf-nosql-1201",
        C::NoSql,
        Medium,
        "JavaScript injection into a NoSQL query",
    ),
    r("waf-ldap-1300", C::Ldap, Medium, "LDAP filter break-out"),
    r(
        "waf-ldap-1301",
        C::Ldap,
        Medium,
        "LDAP wildcard filter on a directory attribute",
    ),
    r("waf-crlf-1400", C::Crlf, Low, "CRLF + header field"),
    r(
        "waf-crlf-1401",
        C::Crlf,
        Low,
        "response splitting (CRLF + blank line + content)",
    ),
    r(
        "waf-xxe-1500",
        C::Xxe,
        Low,
        "external entity (SYSTEM/PUBLIC, parameter entity)",
    ),
    r(
        "waf-xxe-1501",
        C::Xxe,
        Medium,
        "DOCTYPE with an internal subset / entity expansion",
    ),
    r("waf-xxe-1502", C::Xxe, Low, "XInclude or XSLT file access"),
];

/// The rule with this id.
pub fn managed_rule(id: &str) -> Option<&'static ManagedRule> {
    MANAGED_RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule id literal in the sources is in the catalog, and every catalog id is used.
    #[test]
    fn catalog_matches_the_sources() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut used = std::collections::BTreeSet::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("rules.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for (i, _) in text.match_indices("\"waf-") {
                        let rest = &text[i + 1..];
                        let id = &rest[..rest.find('"').unwrap()];
                        if id
                            .rsplit('-')
                            .next()
                            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                        {
                            used.insert(id.to_owned());
                        }
                    }
                }
            }
        }
        for id in &used {
            assert!(managed_rule(id).is_some(), "{id} is not in MANAGED_RULES");
        }
        for rule in MANAGED_RULES {
            assert!(used.contains(rule.id), "{} is never reported", rule.id);
        }
        let mut ids: Vec<_> = MANAGED_RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), MANAGED_RULES.len(), "duplicate ids");
    }
}
