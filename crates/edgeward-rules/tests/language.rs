//! The expression language through the public API: every operator in word and symbol form,
//! precedence, functions, sets, regexes and case mapping.

use edgeward_rules::{compile, Request};

const HEADERS: &[(&str, &str)] = &[
    ("X-Api-Key", "Secret-Token"),
    ("Content-Type", "application/json; charset=utf-8"),
    ("X-Empty", ""),
];

fn req() -> Request<'static> {
    Request {
        host: "www.Example.com",
        path: "/api/v1/Users",
        query: "id=42&debug=1",
        method: "POST",
        user_agent: "Mozilla/5.0 (X11; Linux) curl-ish Bot/2.1",
        cookie: "session=abc; theme=dark",
        referer: "https://search.example/?q=edge",
        ip: "192.0.2.77".parse().unwrap(),
        country: Some("DE"),
        body_size: 1500,
        tls: false,
        headers: &HEADERS,
    }
}

/// Compiles `src` (panicking with the error) and evaluates it against `req()`.
fn t(src: &str) -> bool {
    t_with(src, &req())
}

fn t_with(src: &str, r: &Request<'_>) -> bool {
    match compile(src) {
        Ok(e) => e.eval(r),
        Err(e) => panic!("{src}: {e}"),
    }
}

#[test]
fn string_equality_word_and_symbol() {
    assert!(t(r#"http.host eq "www.Example.com""#));
    assert!(t(r#"http.host == "www.Example.com""#));
    assert!(!t(r#"http.host eq "www.example.com""#));
    assert!(t(r#"http.host ne "other""#));
    assert!(t(r#"http.host != "other""#));
    assert!(!t(r#"http.host != "www.Example.com""#));
}

#[test]
fn string_ordering_word_and_symbol() {
    assert!(t(r#"http.request.method lt "PUT""#));
    assert!(t(r#"http.request.method < "PUT""#));
    assert!(t(r#"http.request.method le "POST""#));
    assert!(t(r#"http.request.method <= "POST""#));
    assert!(t(r#"http.request.method gt "GET""#));
    assert!(t(r#"http.request.method > "GET""#));
    assert!(t(r#"http.request.method ge "POST""#));
    assert!(t(r#"http.request.method >= "POST""#));
    assert!(!t(r#"http.request.method gt "POST""#));
    assert!(!t(r#"http.request.method lt "POST""#));
}

#[test]
fn integer_comparisons_word_and_symbol() {
    assert!(t("http.request.body.size eq 1500"));
    assert!(t("http.request.body.size == 1500"));
    assert!(t("http.request.body.size ne 1"));
    assert!(t("http.request.body.size != 1"));
    assert!(t(
        "http.request.body.size lt 1501 and http.request.body.size < 1501"
    ));
    assert!(t(
        "http.request.body.size le 1500 and http.request.body.size <= 1500"
    ));
    assert!(t(
        "http.request.body.size gt 1499 and http.request.body.size > 1499"
    ));
    assert!(t(
        "http.request.body.size ge 1500 and http.request.body.size >= 1500"
    ));
    assert!(!t("http.request.body.size gt 1500"));
    assert!(!t("http.request.body.size eq 1501"));
    assert!(!t("http.request.body.size == 1499"));
    assert!(!t("http.request.body.size ne 1500"));
    assert!(t("http.request.body.size in {1 1500 99}"));
    assert!(!t("http.request.body.size in {1, 2, 3}"));
}

#[test]
fn contains_and_matches() {
    assert!(t(r#"http.user_agent contains "curl""#));
    assert!(!t(r#"http.user_agent contains "CURL""#));
    assert!(t(r#"http.user_agent contains """#));
    assert!(t(r#"http.user_agent matches "Bot/\\d+\\.\\d+$""#));
    assert!(t(r#"http.user_agent ~ r"Bot/\d+\.\d+$""#));
    assert!(!t(r#"http.user_agent ~ "^curl""#));
    assert!(t(r#"http.request.uri.path matches "^/api/v[0-9]+/""#));
}

#[test]
fn every_string_field_reads_its_part_of_the_request() {
    assert!(t(r#"http.request.uri.path eq "/api/v1/Users""#));
    assert!(t(r#"http.request.uri.query eq "id=42&debug=1""#));
    assert!(t(r#"http.request.uri eq "/api/v1/Users?id=42&debug=1""#));
    assert!(t(r#"http.request.method eq "POST""#));
    assert!(t(r#"http.cookie contains "theme=dark""#));
    assert!(t(r#"http.referer eq "https://search.example/?q=edge""#));
    assert!(t(r#"ip.geoip.country eq "DE""#));
    assert!(t(r#"http.request.headers["x-api-key"] eq "Secret-Token""#));
    assert!(t(r#"http.request.headers["X-API-KEY"] eq "Secret-Token""#));
    assert!(t(r#"http.request.headers["missing"] eq """#));
    assert!(!t(r#"http.request.headers["missing"] ne """#));
}

#[test]
fn uri_without_query_has_no_question_mark() {
    let mut r = req();
    r.query = "";
    assert!(t_with(r#"http.request.uri eq "/api/v1/Users""#, &r));
    assert!(t_with(r#"len(http.request.uri) eq 13"#, &r));
    assert!(t(r#"len(http.request.uri) eq 27"#));
    assert!(t(r#"http.request.uri matches "Users\\?id=42""#));
    assert!(t(r#"lower(http.request.uri) contains "users?id""#));
}

#[test]
fn absent_country_compares_as_empty() {
    let mut r = req();
    r.country = None;
    assert!(!t_with(r#"ip.geoip.country eq "DE""#, &r));
    assert!(t_with(r#"ip.geoip.country ne "DE""#, &r));
    assert!(t_with(r#"not ip.geoip.country in {"DE" "FR"}"#, &r));
}

#[test]
fn logical_operators_word_and_symbol() {
    let yes = r#"http.request.method eq "POST""#;
    let no = r#"http.request.method eq "GET""#;
    for (op_and, op_or, op_not, op_xor) in [("and", "or", "not ", "xor"), ("&&", "||", "!", "^^")] {
        assert!(t(&format!("{yes} {op_and} {yes}")));
        assert!(!t(&format!("{yes} {op_and} {no}")));
        assert!(t(&format!("{no} {op_or} {yes}")));
        assert!(!t(&format!("{no} {op_or} {no}")));
        assert!(t(&format!("{op_not}{no}")));
        assert!(!t(&format!("{op_not}{yes}")));
        assert!(t(&format!("{yes} {op_xor} {no}")));
        assert!(!t(&format!("{yes} {op_xor} {yes}")));
        assert!(!t(&format!("{no} {op_xor} {no}")));
    }
}

#[test]
fn precedence_is_not_then_and_then_xor_then_or() {
    const T: &str = "http.request.body.size eq 1500";
    const F: &str = "http.request.body.size eq 0";
    // and binds tighter than or: T or (F and F)
    assert!(t(&format!("{T} or {F} and {F}")));
    // (F and F) or T
    assert!(t(&format!("{F} and {F} or {T}")));
    // not binds tighter than and: (not F) and T
    assert!(t(&format!("not {F} and {T}")));
    // (not T) and F, not: not (T and F)
    assert!(!t(&format!("not {T} and {F}")));
    // and binds tighter than xor: T xor (T and F) = T
    assert!(t(&format!("{T} xor {T} and {F}")));
    // xor binds tighter than or: (T xor T) or F = F, whereas T xor (T or F) would also be F;
    // use F or (T xor T) -> F, vs (F or T) xor T -> F; distinguish with T or T xor T:
    // T or (T xor T) = T, (T or T) xor T = F
    assert!(t(&format!("{T} or {T} xor {T}")));
    // xor over and: F xor T and T = F xor (T and T) = T
    assert!(t(&format!("{F} xor {T} and {T}")));
    // parentheses override
    assert!(!t(&format!("({T} or {T}) xor {T}")));
    assert!(!t(&format!("not ({F} or {T})")));
    assert!(t(&format!("not not {T}")));
    assert!(t(&format!("!!{T}")));
}

#[test]
fn bare_boolean_field() {
    assert!(!t("ssl"));
    assert!(t("not ssl"));
    assert!(t("!ssl"));
    let mut r = req();
    r.tls = true;
    assert!(t_with("ssl", &r));
    assert!(t_with(r#"ssl and http.host contains "Example""#, &r));
}

#[test]
fn lower_compares_case_insensitively_against_the_literal() {
    assert!(t(r#"lower(http.host) eq "www.example.com""#));
    assert!(t(r#"lower(http.host) == "www.example.com""#));
    assert!(!t(r#"lower(http.host) ne "www.example.com""#));
    assert!(t(r#"lower(http.user_agent) contains "bot/2""#));
    assert!(t(r#"lower(http.request.uri.path) in {"/api/v1/users" "/other"}"#));
    assert!(t(r#"lower(http.request.uri.path) matches "^/api/v1/users$""#));
    assert!(!t(r#"lower(http.request.uri.path) matches "Users""#));
    assert!(t(r#"lower(http.request.method) gt "get""#));
    assert!(t(r#"lower(http.request.headers["x-api-key"]) eq "secret-token""#));
}

#[test]
fn case_mapping_is_ascii_only_and_keeps_other_text() {
    let mut r = req();
    r.user_agent = "Navigateur-É/1 ÉTÉ";
    assert!(t_with(r#"lower(http.user_agent) contains "navigateur-É""#, &r));
    assert!(t_with(r#"lower(http.user_agent) eq "navigateur-É/1 ÉtÉ""#, &r));
    assert!(!t_with(r#"lower(http.user_agent) contains "é""#, &r));
    assert!(t_with(r#"lower(http.user_agent) matches "^navigateur-É""#, &r));
}

#[test]
fn upper_compares_case_insensitively_against_the_literal() {
    assert!(t(r#"upper(http.host) eq "WWW.EXAMPLE.COM""#));
    assert!(t(r#"upper(http.user_agent) contains "MOZILLA""#));
    assert!(t(r#"upper(http.cookie) matches "THEME=DARK$""#));
    assert!(t(r#"lower(upper(http.host)) eq "www.example.com""#));
}

#[test]
fn starts_with_and_ends_with() {
    assert!(t(r#"starts_with(http.request.uri.path, "/api/")"#));
    assert!(!t(r#"starts_with(http.request.uri.path, "/API/")"#));
    assert!(t(r#"starts_with(lower(http.request.uri.path), "/api/v1/u")"#));
    assert!(t(r#"ends_with(http.host, ".com")"#));
    assert!(t(r#"ends_with(upper(http.host), "EXAMPLE.COM")"#));
    assert!(!t(r#"ends_with(http.host, "www.Example.com.longer")"#));
    assert!(t(r#"not starts_with(http.host, "api.")"#));
}

#[test]
fn len_counts_bytes() {
    assert!(t("len(http.request.method) eq 4"));
    assert!(t("len(lower(http.host)) eq 15"));
    assert!(t(r#"len(http.request.headers["x-empty"]) eq 0"#));
    assert!(t("len(http.user_agent) > 10"));
    assert!(t("len(http.request.uri.query) in {13 14}"));
}

#[test]
fn string_sets() {
    assert!(t(r#"http.request.method in {"GET" "POST"}"#));
    assert!(t(r#"http.request.method in {"GET", "POST"}"#));
    assert!(!t(r#"http.request.method in {"GET" "HEAD"}"#));
    assert!(!t(r#"http.request.method in {"post"}"#));
    assert!(t(r#"not http.request.method in {"PUT"}"#));
    assert!(t(r#"ip.geoip.country in {"DE" "FR" "DE"}"#));
}

#[test]
fn ip_equality_and_cidr_sets_v4() {
    assert!(t("ip.src eq 192.0.2.77"));
    assert!(t("ip.src == 192.0.2.77"));
    assert!(t("ip.src ne 192.0.2.78"));
    assert!(t("ip.src in {10.0.0.0/8 192.0.2.0/24}"));
    assert!(t("ip.src in {192.0.2.77}"));
    assert!(t("ip.src in {0.0.0.0/0}"));
    assert!(!t("ip.src in {10.0.0.0/8 192.0.2.0/26 2001:db8::/32}"));
    assert!(t("ip.src in {192.0.2.64/28}"));
    assert!(t("ip.src in {192.0.2.1/24}"), "host bits are ignored");
    assert!(t("ip.src in {192.0.2.0/25, 192.0.2.0/24, 192.0.2.70/31}"));
}

#[test]
fn ip_cidr_sets_v6_and_mapped_v4() {
    let mut r = req();
    r.ip = "2001:db8:1::5".parse().unwrap();
    assert!(t_with("ip.src in {10.0.0.0/8 2001:db8::/32 192.0.2.1}", &r));
    assert!(t_with("ip.src eq 2001:db8:1::5", &r));
    assert!(!t_with("ip.src in {2001:db9::/32 ::1}", &r));
    assert!(!t_with("ip.src in {0.0.0.0/0}", &r));
    assert!(t_with("ip.src in {::/0}", &r));
    r.ip = "::1".parse().unwrap();
    assert!(t_with("ip.src in {::1}", &r));
    r.ip = "fe80::1".parse().unwrap();
    assert!(t_with("ip.src in {fe80::/10}", &r));
    r.ip = "::ffff:10.1.2.3".parse().unwrap();
    assert!(
        t_with("ip.src in {10.0.0.0/8}", &r),
        "IPv4-mapped IPv6 matches IPv4 ranges"
    );
}

#[test]
fn escapes_and_raw_strings() {
    let mut r = req();
    r.user_agent = r#"say "hi" \o/"#;
    assert!(t_with(r#"http.user_agent eq "say \"hi\" \\o/""#, &r));
    assert!(t_with(r##"http.user_agent eq r#"say "hi" \o/"#"##, &r));
    assert!(t_with(r#"http.user_agent contains "\\""#, &r));
}

#[test]
fn long_values_beyond_the_stack_buffer_still_evaluate() {
    let long_path = format!("/{}", "a".repeat(10_000));
    let mut r = req();
    r.path = &long_path;
    assert!(t_with(r#"http.request.uri matches "a\\?id=42""#, &r));
    assert!(t_with(r#"lower(http.request.uri.path) matches "^/a+$""#, &r));
}

#[test]
fn source_is_kept_and_exprs_are_send_sync_clone() {
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync::<edgeward_rules::Expr>();
    let src = r#"http.host eq "a""#;
    assert_eq!(compile(src).unwrap().source(), src);
    let e = compile(r#"http.host matches "^www""#).unwrap().clone();
    assert!(e.eval(&req()));
}
