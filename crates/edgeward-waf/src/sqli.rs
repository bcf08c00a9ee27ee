//! SQL injection detection: a small SQL tokenizer plus structural signatures.
//!
//! Owns: tokenizing a (lowercased, decoded) value as SQL in three contexts — as-is, as if it
//! were inside a `'…'` literal, as if inside `"…"` (the libinjection idea: an injection must
//! first break out of the literal it lands in) — and matching token sequences against
//! signature families, each with its own rule id:
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-sqli-100` | `UNION [ALL] SELECT` followed by a column list |
//! | `waf-sqli-101` | literal break-out + boolean tautology / comparison (`' or '1'='1`) |
//! | `waf-sqli-102` | stacked query (`; drop table`, `; exec xp_…`, `; select … from`) |
//! | `waf-sqli-103` | literal break-out + comment (`admin'--`, `x'#`) |
//! | `waf-sqli-104` | time-based functions (`sleep(`, `benchmark(`, `pg_sleep(`, `waitfor delay`) |
//! | `waf-sqli-105` | system catalogs and dangerous procedures (`information_schema`, `xp_cmdshell`) |
//! | `waf-sqli-106` | error-based extraction functions (`extractvalue(`, `updatexml(`, `convert(int`) |
//! | `waf-sqli-107` | sub-select after an operator or break-out (`=(select`, `' (select`) |
//! | `waf-sqli-108` | unquoted tautology (`1 or 1=1`, `and 2=2`) and logic + SQL function |
//!
//! Does not own: decoding (see `decode`) or deciding what a sensitivity blocks (see `lib`).

use crate::sqli_lex::{tokenize, Kind, Tok};
use crate::Strength;

const STATEMENTS: &[&str] = &[
    "drop", "exec", "execute", "declare", "shutdown", "waitfor", "insert", "update", "delete", "truncate",
    "alter", "create", "select", "grant", "revoke", "set", "begin", "call", "load", "copy",
];

const TIME_FUNCS: &[&str] = &[
    "sleep",
    "benchmark",
    "pg_sleep",
    "dbms_lock.sleep",
    "dbms_pipe.receive_message",
    "randomblob",
    "pg_sleep_for",
];

const CATALOGS: &[&str] = &[
    "information_schema",
    "sysobjects",
    "syscolumns",
    "sysdatabases",
    "sys.tables",
    "sys.objects",
    "mysql.user",
    "mysql.db",
    "pg_catalog",
    "pg_shadow",
    "pg_user",
    "pg_tables",
    "sqlite_master",
    "sqlite_schema",
    "all_tables",
    "user_tables",
    "all_users",
    "dba_users",
    "v$version",
    "xp_cmdshell",
    "xp_regread",
    "xp_dirtree",
    "sp_executesql",
    "sp_password",
    "sp_oacreate",
    "master..xp_cmdshell",
    "utl_http.request",
    "utl_inaddr.get_host_address",
    "load_file",
    "outfile",
    "dumpfile",
    "msysaccessobjects",
    "msysobjects",
    "rdb$database",
    "sysibm.sysdummy1",
    "sysusers",
];

const ERROR_FUNCS: &[&str] = &[
    "extractvalue",
    "updatexml",
    "exp",
    "geometrycollection",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "linestring",
    "floor",
    "convert",
    "cast",
    "ctxsys.drithsx.sn",
    "json_keys",
    "gtid_subset",
    "name_const",
    "xmltype",
    "dbms_xmlgen.getxml",
];

/// Functions that, right after a logic operator, indicate boolean/blind inference.
const INFERENCE_FUNCS: &[&str] = &[
    "ascii",
    "ord",
    "substring",
    "substr",
    "mid",
    "length",
    "char",
    "chr",
    "if",
    "iif",
    "case",
    "exists",
    "elt",
    "make_set",
    "concat",
    "concat_ws",
    "hex",
    "unhex",
    "bin",
    "user",
    "database",
    "version",
    "current_user",
    "system_user",
    "db_name",
    "schema",
    "row",
    "instr",
    "left",
    "right",
    "count",
    "rand",
    "not",
    "null",
    "isnull",
    "ifnull",
    "nvl",
    "coalesce",
    "regexp_substring",
    "greatest",
    "least",
    "lower",
    "upper",
    "sqlite_version",
    "char_length",
    "strcmp",
    "md5",
    "sha1",
    "@@version",
];

/// Looks for SQL injection in a lowercased, decoded value.
pub(crate) fn detect(s: &str) -> Option<(&'static str, Strength)> {
    let mut toks = Vec::new();
    let mut best: Option<(&'static str, Strength)> = None;
    for ctx in [None, Some(b'\''), Some(b'"')] {
        if let Some(q) = ctx {
            if !s.as_bytes().contains(&q) {
                continue;
            }
        }
        tokenize(s, ctx, &mut toks);
        if let Some(hit) = scan(&toks, ctx.is_some(), s.contains("/*")) {
            if best.map_or(true, |b| hit.1 < b.1) {
                best = Some(hit);
            }
            if hit.1 == Strength::Strong {
                break;
            }
        }
    }
    best
}

fn is(t: Option<&Tok<'_>>, k: Kind) -> bool {
    t.is_some_and(|t| t.kind == k)
}

fn is_word(t: Option<&Tok<'_>>, words: &[&str]) -> bool {
    t.is_some_and(|t| matches!(t.kind, Kind::Word | Kind::Var) && words.contains(&t.text))
}

fn is_operand(t: Option<&Tok<'_>>) -> bool {
    t.is_some_and(|t| matches!(t.kind, Kind::Str { .. } | Kind::Num | Kind::Word | Kind::Var))
}

fn is_literal(t: &Tok<'_>) -> bool {
    matches!(t.kind, Kind::Str { .. } | Kind::Num)
}

fn scan(t: &[Tok<'_>], broke_out: bool, commented: bool) -> Option<(&'static str, Strength)> {
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |hit: (&'static str, Strength)| {
        if best.map_or(true, |b| hit.1 < b.1) {
            best = Some(hit);
        }
    };
    // A break-out only counts when the literal we assumed we were in actually closed.
    let broke_out = broke_out && matches!(t.first().map(|t| t.kind), Some(Kind::Str { closed: true }));
    if broke_out {
        let mut k = 1;
        while is(t.get(k), Kind::RParen) {
            k += 1;
        }
        match t.get(k).map(|x| x.kind) {
            // `admin'--`, `x'#`; not `'#menu'` (a CSS selector or a URL fragment).
            Some(Kind::Comment) if !hash_word(t[k].text) => note(("waf-sqli-103", Strength::Medium)),
            Some(Kind::Semi) if t.len() > k + 1 => note(("waf-sqli-102", Strength::Medium)),
            Some(Kind::Logic) => {
                if let Some(hit) = tautology(&t[k + 1..], true) {
                    note(hit);
                }
            }
            Some(Kind::Word) if t[k].text == "union" => {
                let mut j = k + 1;
                while is(t.get(j), Kind::Comment) || is_word(t.get(j), &["all", "distinct"]) {
                    j += 1;
                }
                if is_word(t.get(j), &["select"]) {
                    note(("waf-sqli-100", Strength::Strong));
                }
            }
            Some(Kind::Word) if clause_follows(&t[k..]) => note(("waf-sqli-109", Strength::Medium)),
            Some(Kind::LParen) if is_word(t.get(k + 1), &["select"]) => {
                note(("waf-sqli-107", Strength::Strong));
            }
            _ => {}
        }
    }
    for i in 0..t.len() {
        let tok = &t[i];
        match tok.kind {
            Kind::Word if tok.text == "union" => {
                let mut j = i + 1;
                while is(t.get(j), Kind::Comment)
                    || is_word(t.get(j), &["all", "distinct", "distinctrow"])
                    || is(t.get(j), Kind::LParen)
                {
                    j += 1;
                }
                if is_word(t.get(j), &["select"]) && select_list_follows(&t[j + 1..]) {
                    note(("waf-sqli-100", Strength::Strong));
                } else if is_word(t.get(j), &["select"]) && t.len() == j + 1 && commented {
                    // `/*!UNiOn*/ /*!SeLEct*/`: comment-wrapped keywords are SQL, not prose.
                    note(("waf-sqli-100", Strength::Medium));
                }
            }
            Kind::Semi => {
                if let Some(n) = t.get(i + 1).filter(|n| n.kind == Kind::Word) {
                    if STATEMENTS.contains(&n.text) && stacked_statement(n.text, &t[i + 2..]) {
                        note(("waf-sqli-102", Strength::Strong));
                    }
                }
            }
            Kind::Word => {
                let next_paren = is(t.get(i + 1), Kind::LParen);
                if next_paren && TIME_FUNCS.contains(&tok.text) {
                    let arg = t.get(i + 2);
                    let strong = is(arg, Kind::Num) || is_operand(arg) && i > 0;
                    note((
                        "waf-sqli-104",
                        if strong {
                            Strength::Strong
                        } else {
                            Strength::Medium
                        },
                    ));
                }
                if tok.text == "waitfor" && is_word(t.get(i + 1), &["delay", "time"]) {
                    note(("waf-sqli-104", Strength::Strong));
                }
                let first = tok.text.as_bytes().first().copied();
                if CATALOGS.iter().any(|c| {
                    // First-byte check first: most words start with no catalog's letter.
                    first == c.as_bytes().first().copied()
                        && tok
                            .text
                            .strip_prefix(c)
                            .is_some_and(|r| r.is_empty() || r.starts_with('.'))
                }) {
                    let sqlish = t.iter().any(|x| {
                        matches!(x.kind, Kind::Semi | Kind::Comment | Kind::LParen)
                            || x.kind == Kind::Word && matches!(x.text, "select" | "from" | "exec")
                    });
                    let dangerous = ["xp_", "sp_", "utl_", "dbms_"]
                        .iter()
                        .any(|p| tok.text.starts_with(p))
                        || tok.text.contains("..xp_");
                    let s = if sqlish || dangerous {
                        Strength::Medium
                    } else {
                        Strength::Weak
                    };
                    note(("waf-sqli-105", s));
                }
                if next_paren && ERROR_FUNCS.contains(&tok.text) {
                    let after_logic =
                        i > 0 && matches!(t[i - 1].kind, Kind::Logic | Kind::LParen | Kind::Comma);
                    let strong_fn = matches!(
                        tok.text,
                        "extractvalue"
                            | "updatexml"
                            | "ctxsys.drithsx.sn"
                            | "gtid_subset"
                            | "name_const"
                            | "dbms_xmlgen.getxml"
                    );
                    if strong_fn && (after_logic || is(t.get(i + 2), Kind::Num)) {
                        note(("waf-sqli-106", Strength::Strong));
                    } else if after_logic && (strong_fn || t[i + 2..].iter().any(|x| x.text == "select")) {
                        note(("waf-sqli-106", Strength::Medium));
                    }
                }
                if tok.text == "select"
                    && i > 0
                    && t[i - 1].kind == Kind::LParen
                    && select_list_follows(&t[i + 1..])
                {
                    note(("waf-sqli-107", Strength::Medium));
                }
                if tok.text == "when" && literal_comparison(&t[i + 1..], false) {
                    note(("waf-sqli-108", Strength::Medium));
                }
                if tok.text == "order" && is_word(t.get(i + 1), &["by"]) && is(t.get(i + 2), Kind::Num) {
                    let tail = t.get(i + 3).map(|x| x.kind);
                    let s = if matches!(tail, Some(Kind::Comment)) {
                        Strength::Medium
                    } else {
                        Strength::Weak
                    };
                    note(("waf-sqli-109", s));
                }
                if matches!(tok.text, "char" | "chr" | "concat") && next_paren && hexish_args(&t[i + 2..]) {
                    note(("waf-sqli-106", Strength::Weak));
                }
            }
            Kind::LParen | Kind::Comma if literal_comparison(&t[i + 1..], true) => {
                // `ELT(5062=5062,1)`, `MAKE_SET(1683=1683,…)`: a tautology as an argument.
                note(("waf-sqli-108", Strength::Medium));
            }
            Kind::Logic if !(i == 0 && broke_out) => {
                // Unquoted: `1 or 1=1`, `and 2=2`, `x' or 1=1 or 'x'='y` (outer context).
                let lead_ok = i == 0
                    || is_operand(t.get(i - 1))
                    || matches!(t[i - 1].kind, Kind::RParen | Kind::Comment);
                if lead_ok {
                    if let Some(hit) = tautology(&t[i + 1..], false) {
                        note(hit);
                    }
                }
            }
            _ => {}
        }
    }
    best
}

/// After a logic operator: `A cmp B`, `func(`, `true`, a bare number before a comment/end.
fn tautology(t: &[Tok<'_>], broke_out: bool) -> Option<(&'static str, Strength)> {
    let mut k = 0;
    while is(t.get(k), Kind::LParen) || is(t.get(k), Kind::Op) && t[k].text == "!" {
        k += 1;
    }
    let a = t.get(k)?;
    let id = if broke_out { "waf-sqli-101" } else { "waf-sqli-108" };
    if a.kind == Kind::Word && is(t.get(k + 1), Kind::LParen) && INFERENCE_FUNCS.contains(&a.text) {
        let s = if broke_out {
            Strength::Strong
        } else {
            Strength::Medium
        };
        return Some((id, s));
    }
    if is_word(Some(a), &["select", "exists", "sleep", "benchmark", "pg_sleep"]) {
        return Some((id, Strength::Medium));
    }
    if is_operand(Some(a)) && is(t.get(k + 1), Kind::Cmp) {
        let mut m = k + 2;
        while is(t.get(m), Kind::LParen) || is(t.get(m), Kind::Op) && matches!(t[m].text, "-" | "+" | "!") {
            m += 1;
        }
        let b = t.get(m)?;
        if is_word(Some(b), &["select"]) {
            return Some((id, Strength::Strong));
        }
        if !is_operand(Some(b)) {
            return None;
        }
        if broke_out {
            return Some((id, Strength::Strong));
        }
        // Unquoted comparisons must be between literals to stay clear of prose.
        if is_literal(a) && is_literal(b) {
            let numbers = a.kind == Kind::Num && b.kind == Kind::Num;
            let s = if a.text == b.text || numbers {
                Strength::Medium
            } else {
                Strength::Weak
            };
            let tail = t.get(m + 1).map(|x| x.kind);
            let anchored = matches!(
                tail,
                None | Some(Kind::Comment | Kind::Logic | Kind::RParen | Kind::Semi | Kind::Str { .. })
            );
            return anchored.then_some((id, s));
        }
        if a.kind == Kind::Word && b.kind == Kind::Word && a.text == b.text && a.text.len() < 12 {
            // `user=user`, `null=null`: SQL builtins compared with themselves.
            let builtin = INFERENCE_FUNCS.contains(&a.text);
            return Some((id, if builtin { Strength::Medium } else { Strength::Weak }));
        }
        return None;
    }
    if broke_out {
        let truthy = matches!(a.kind, Kind::Num) || is_word(Some(a), &["true", "false", "null"]);
        let end = matches!(
            t.get(k + 1).map(|x| x.kind),
            None | Some(Kind::Comment | Kind::Semi | Kind::Str { .. })
        );
        if truthy && end {
            return Some((id, Strength::Medium));
        }
        if matches!(a.kind, Kind::Str { .. }) && t.len() == k + 1 {
            return Some((id, Strength::Weak));
        }
    }
    None
}

/// What follows `select` in an injected query: a column list, not English.
fn select_list_follows(t: &[Tok<'_>]) -> bool {
    let Some(first) = t.iter().find(|x| x.kind != Kind::Comment) else {
        return false;
    };
    match first.kind {
        Kind::Num | Kind::Str { .. } | Kind::Var | Kind::LParen => true,
        Kind::Op => first.text == "*",
        Kind::Word => {
            matches!(
                first.text,
                "null"
                    | "distinct"
                    | "top"
                    | "concat"
                    | "char"
                    | "version"
                    | "user"
                    | "database"
                    | "group_concat"
                    | "table_name"
                    | "column_name"
                    | "username"
                    | "password"
                    | "from"
                    | "case"
                    | "if"
                    | "cast"
                    | "convert"
                    | "sleep"
                    | "benchmark"
            ) || t
                .iter()
                .take(12)
                .any(|x| x.kind == Kind::Comma || x.kind == Kind::Word && x.text == "from")
        }
        _ => false,
    }
}

/// `N=N` between literals, closed by `,` / `)` (as an argument) or anything (after WHEN).
fn literal_comparison(t: &[Tok<'_>], as_argument: bool) -> bool {
    let (Some(a), Some(op), Some(b)) = (t.first(), t.get(1), t.get(2)) else {
        return false;
    };
    let lit = is_literal(a) && op.kind == Kind::Cmp && op.text == "=" && is_literal(b) && a.text == b.text;
    lit && (!as_argument || matches!(t.get(3).map(|x| x.kind), Some(Kind::Comma | Kind::RParen)))
}

/// A clause an attacker appends after breaking out: `ORDER BY 3`, `GROUP BY …`, `HAVING …`.
fn clause_follows(t: &[Tok<'_>]) -> bool {
    match t.first().map(|x| x.text) {
        Some("order" | "group") => {
            is_word(t.get(1), &["by"])
                && (is(t.get(2), Kind::Num)
                    || is_word(t.get(2), &["concat", "null"])
                    || is(t.get(3), Kind::LParen))
        }
        Some("having") => is(t.get(1), Kind::Num) && is(t.get(2), Kind::Cmp) || is(t.get(2), Kind::LParen),
        Some("procedure") => is_word(t.get(1), &["analyse"]),
        Some("limit") => {
            is(t.get(1), Kind::Num)
                && matches!(t.get(2).map(|x| x.kind), None | Some(Kind::Comment | Kind::Comma))
        }
        _ => false,
    }
}

fn stacked_statement(stmt: &str, rest: &[Tok<'_>]) -> bool {
    let next = rest.first();
    match stmt {
        "drop" | "truncate" | "alter" | "create" => is_word(
            next,
            &[
                "table",
                "database",
                "user",
                "procedure",
                "function",
                "schema",
                "login",
                "view",
                "index",
            ],
        ),
        "exec" | "execute" => next.is_some_and(|n| n.kind == Kind::Word || n.kind == Kind::Var),
        "declare" => is(next, Kind::Var),
        "shutdown" => true,
        "waitfor" => is_word(next, &["delay", "time"]),
        "insert" => is_word(next, &["into"]),
        "delete" => is_word(next, &["from"]),
        "update" => rest.iter().take(4).any(|x| x.text == "set"),
        "select" => {
            select_list_follows(rest)
                && (rest
                    .iter()
                    .any(|x| x.text == "from" || x.kind == Kind::LParen || x.kind == Kind::Var)
                    || is(next, Kind::Num)
                    || next.is_some_and(|n| n.text == "*"))
        }
        "set" => is(next, Kind::Var),
        _ => false,
    }
}

/// A `#` comment glued to a word: `#menu`, `#section-2`.
fn hash_word(comment: &str) -> bool {
    comment
        .strip_prefix('#')
        .is_some_and(|r| r.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric))
}

fn hexish_args(t: &[Tok<'_>]) -> bool {
    t.iter().take(16).filter(|x| x.kind == Kind::Num).count() >= 3
        || t.first()
            .is_some_and(|x| x.kind == Kind::Num && x.text.starts_with("0x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        detect(&s.to_ascii_lowercase()).map(|h| h.0)
    }

    #[test]
    fn detects_signature_families() {
        assert_eq!(rule("1 UNION ALL SELECT NULL,NULL--"), Some("waf-sqli-100"));
        assert_eq!(rule("' or '1'='1"), Some("waf-sqli-101"));
        assert_eq!(rule("1'; DROP TABLE users--"), Some("waf-sqli-102"));
        assert_eq!(rule("admin'--"), Some("waf-sqli-103"));
        assert_eq!(rule("1 AND SLEEP(5)"), Some("waf-sqli-104"));
        assert_eq!(rule("1; waitfor delay '0:0:5'--"), Some("waf-sqli-102"));
        assert_eq!(
            rule("select table_name from information_schema.tables"),
            Some("waf-sqli-105")
        );
        assert_eq!(
            rule("1 and extractvalue(1,concat(0x7e,version()))"),
            Some("waf-sqli-106")
        );
        assert_eq!(rule("1 or 1=1"), Some("waf-sqli-108"));
        assert_eq!(rule("') or ('a'='a"), Some("waf-sqli-101"));
        assert_eq!(rule("1/*!50000union*/ select 1,2"), Some("waf-sqli-100"));
        assert_eq!(rule("/*!UNiOn*/ /*!SeLEct*/"), Some("waf-sqli-100"));
        assert_eq!(rule("1e1AND-0.0UNION SELECT 2"), Some("waf-sqli-100"));
    }

    #[test]
    fn leaves_prose_alone() {
        for ok in [
            "o'reilly",
            "rock 'n' roll",
            "european union select committee",
            "it's a 'test' or not",
            "tips; select the best one",
            "c# or f# tutorial",
            "\"hello world\" or \"hi\"",
            "don't stop believin'",
            "1 or 2 items",
            "select a plan",
        ] {
            let hit = detect(ok);
            assert!(hit.map_or(true, |h| h.1 == Strength::Weak), "{ok}: {hit:?}");
        }
    }
}
