//! Compile errors: syntax and typing faults, each with the exact 1-based column of the
//! offending token and a message an operator can act on.

use edgeward_rules::compile;

/// Compiles `src`, expecting an error at `column` whose message contains `needle`.
fn fails(src: &str, column: usize, needle: &str) {
    let e = match compile(src) {
        Ok(_) => panic!("{src:?} compiled"),
        Err(e) => e,
    };
    assert_eq!(e.column, column, "{src:?}: {e}");
    assert!(e.message.contains(needle), "{src:?}: {e} (wanted {needle:?})");
    assert!(e.to_string().starts_with(&format!("column {column}: ")));
}

// ---- syntax ----

#[test]
fn missing_right_operand_points_past_the_end() {
    fails("http.host eq", 13, "expected a value, found end of expression");
}

#[test]
fn unterminated_string_points_at_its_quote() {
    fails(r#"http.host eq "abc"#, 14, "unterminated string");
}

#[test]
fn invalid_escape_points_at_the_backslash() {
    fails(r#"http.host eq "a\qb""#, 16, "invalid escape \"\\q\"");
}

#[test]
fn dangling_logical_operator() {
    fails(
        r#"http.host eq "a" and"#,
        21,
        "expected a field, a function or \"(\", found end",
    );
}

#[test]
fn unclosed_parenthesis_names_its_opening_column() {
    fails(
        r#"(http.host eq "a" or ssl"#,
        25,
        "to close the \"(\" at column 1",
    );
}

#[test]
fn stray_closing_parenthesis() {
    fails(r#"http.host eq "a")"#, 17, "unexpected \")\"");
}

#[test]
fn unexpected_character() {
    fails(r#"http.host @ "a""#, 11, "unexpected character '@'");
}

#[test]
fn single_equals_sign_explains_the_operators() {
    fails(r#"http.host = "a""#, 11, "\"eq\" or \"==\"");
}

#[test]
fn two_values_without_a_join() {
    fails(
        r#"http.host eq "a" "b""#,
        18,
        "join conditions with \"and\" or \"or\"",
    );
}

#[test]
fn invalid_cidr_prefix() {
    fails(
        "ip.src in {10.0.0.0/33}",
        12,
        "invalid IP address or CIDR \"10.0.0.0/33\"",
    );
}

#[test]
fn invalid_ipv4_address() {
    fails("ip.src eq 300.1.2.3", 11, "invalid IP address");
}

#[test]
fn unterminated_set() {
    fails(
        r#"http.host in {"a" "b""#,
        22,
        "expected \"}\" to close the \"{\" at column 14",
    );
}

#[test]
fn empty_set() {
    fails("http.host in {}", 14, "empty set");
}

#[test]
fn unclosed_function_call() {
    fails(
        r#"lower(http.host eq "x""#,
        17,
        "\",\" or \")\" in the call to lower()",
    );
}

#[test]
fn header_index_must_be_a_string() {
    fails(
        "http.request.headers[x] eq \"1\"",
        22,
        "expected a quoted name inside [ ]",
    );
}

#[test]
fn field_on_the_right_side() {
    fails(
        "http.host eq http.referer",
        14,
        "the right side of a comparison is a literal",
    );
}

#[test]
fn operator_without_left_operand() {
    fails(
        r#"eq "a""#,
        1,
        "expected a field, a function or \"(\", found operator \"eq\"",
    );
}

#[test]
fn columns_count_characters_after_non_ascii() {
    fails(r#"http.host eq "ü" and @"#, 22, "unexpected character '@'");
}

#[test]
fn nesting_is_bounded() {
    let src = format!("{}ssl{}", "(".repeat(200), ")".repeat(200));
    fails(&src, 65, "nested deeper than 64");
}

// ---- typing ----

#[test]
fn unknown_field_suggests_the_closest() {
    fails(
        r#"http.host eq "a" or http.usr_agent contains "x""#,
        21,
        "unknown field \"http.usr_agent\" (did you mean \"http.user_agent\"?)",
    );
    let e = compile(r#"ssl or http.usr_agent eq "x""#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "column 8: unknown field \"http.usr_agent\" (did you mean \"http.user_agent\"?)"
    );
}

#[test]
fn unknown_field_without_a_close_match() {
    fails("frobnicate eq 1", 1, "unknown field \"frobnicate\"");
    let e = compile("frobnicate eq 1").unwrap_err();
    assert!(!e.message.contains("did you mean"));
}

#[test]
fn unknown_function_suggests_the_closest() {
    fails(
        r#"lowercase(http.host) eq "a""#,
        1,
        "unknown function \"lowercase\" (did you mean \"lower\"?)",
    );
    fails(
        r#"ssl and startswith(http.host, "a")"#,
        9,
        "(did you mean \"starts_with\"?)",
    );
}

#[test]
fn string_field_compared_with_a_number() {
    fails(
        "http.host eq 5",
        14,
        "cannot compare http.host (a string) with an integer",
    );
    fails(r#"http.request.method in {"GET" 5}"#, 31, "with an integer");
}

#[test]
fn integer_field_compared_with_a_string() {
    fails(
        r#"http.request.body.size gt "10""#,
        27,
        "cannot compare http.request.body.size (an integer) with a string",
    );
    fails(
        r#"len(http.host) eq "3""#,
        19,
        "cannot compare len() (an integer)",
    );
}

#[test]
fn ip_contains_and_ordering_are_refused() {
    fails(
        r#"ip.src contains "10.""#,
        8,
        "\"contains\" does not apply to ip.src",
    );
    fails("ip.src gt 10.0.0.1", 8, "\"gt\" does not apply to ip.src");
    fails(
        r#"ip.src in {"10.0.0.1"}"#,
        12,
        "cannot compare ip.src (an IP address) with a string",
    );
}

#[test]
fn integer_contains_is_refused() {
    fails(
        r#"http.request.body.size matches "1""#,
        24,
        "\"matches\" does not apply",
    );
}

#[test]
fn regex_that_does_not_compile() {
    fails(
        r#"http.user_agent matches "(bot""#,
        25,
        "invalid regular expression \"(bot\"",
    );
    fails(
        r#"http.user_agent ~ "a{99999999}""#,
        19,
        "invalid regular expression",
    );
}

#[test]
fn bare_non_boolean_is_not_a_condition() {
    fails("http.host", 1, "http.host is a string, not a condition");
    fails(
        "ssl and len(http.host)",
        9,
        "len() is an integer, not a condition",
    );
}

#[test]
fn boolean_field_with_an_operator() {
    fails(
        "ssl eq 1",
        5,
        "\"eq\" does not apply to ssl, which is a boolean; use it on its own",
    );
}

#[test]
fn set_operand_rules() {
    fails(
        r#"http.host eq {"a"}"#,
        14,
        "a set {…} goes with \"in\", not \"eq\"",
    );
    fails(r#"http.host in "a""#, 14, "\"in\" takes a set");
}

#[test]
fn function_arity_and_argument_types() {
    fails(
        "lower(http.host, http.path) eq \"a\"",
        1,
        "lower() takes 1 argument, found 2",
    );
    fails(
        "starts_with(http.host) ",
        1,
        "starts_with() takes 2 arguments, found 1",
    );
    fails(
        "len(ip.src) gt 1",
        5,
        "len() needs a string field, but ip.src is an IP address",
    );
    fails(
        "starts_with(http.host, 5)",
        24,
        "needs a string literal as its second argument",
    );
}

#[test]
fn literal_on_the_left() {
    fails(
        r#""a" eq http.host"#,
        1,
        "expected a field or a function, found a string",
    );
}

#[test]
fn headers_field_needs_a_name_and_others_take_none() {
    fails(r#"http.request.headers eq "x""#, 1, "needs a header name");
    fails(r#"http.host["x"] eq "x""#, 10, "cannot be indexed");
}

#[test]
fn case_mapped_comparison_with_an_impossible_literal() {
    fails(
        r#"lower(http.host) eq "WWW.example.com""#,
        21,
        "\"WWW.example.com\" can never match lower(http.host): it contains 'W'; write \"www.example.com\"",
    );
    fails(
        r#"upper(http.user_agent) contains "bot""#,
        33,
        "can never match upper(http.user_agent)",
    );
    fails(
        r#"lower(http.request.method) in {"get" "POST"}"#,
        38,
        "can never match lower",
    );
    fails(
        r#"starts_with(lower(http.host), "WWW")"#,
        31,
        "can never match lower(http.host)",
    );
}

#[test]
fn integer_out_of_range() {
    fails(
        "http.request.body.size eq 99999999999999999999999",
        27,
        "out of range",
    );
}
