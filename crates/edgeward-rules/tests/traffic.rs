//! Traffic rules through the public API: stage order within `TrafficRules::redirect`, the
//! top-404 question, `http.response.code` scoping, and custom error selection and rendering.

use edgeward_rules::{
    compile, compile_response, BulkEntry, BulkRedirects, CustomErrorRule, ErrorBody, ErrorFacts, ErrorFormat,
    Hsts, RedirectRule, RedirectStatus, Request, TrafficRules, ValueExpr, Vars,
};
use http::HeaderValue;
use std::sync::Arc;

fn request<'a>(headers: &'a &'a [(&'a str, &'a str)]) -> Request<'a> {
    let mut r = Request::new("198.51.100.7".parse().unwrap(), headers);
    r.host = "www.example.com";
    r.path = "/old/a";
    r.query = "x=1";
    r
}

fn redirect_rule(id: &str, expr: &str, target: &str, code: u16) -> RedirectRule {
    RedirectRule {
        id: id.into(),
        expr: compile(expr).unwrap(),
        target: ValueExpr::template(target).unwrap(),
        status: RedirectStatus::from_code(code).unwrap(),
        preserve_query: false,
    }
}

fn list(entries: &[(&str, &str)]) -> Arc<BulkRedirects> {
    let mut l = BulkRedirects::default();
    for (i, (s, t)) in entries.iter().enumerate() {
        let e = BulkEntry {
            target: (*t).into(),
            status: RedirectStatus::MovedPermanently,
            preserve_query: false,
            line: i as u32 + 1,
        };
        l.insert(s, e).unwrap();
    }
    Arc::new(l)
}

#[test]
fn https_then_rules_then_lists() {
    let rules = TrafficRules {
        always_use_https: true,
        redirects: vec![redirect_rule(
            "r1",
            r#"starts_with(http.request.uri.path, "/old/")"#,
            "/rule${path}",
            302,
        )],
        redirect_lists: vec![list(&[("/old/a", "/from-list"), ("/listed", "/from-list")])],
        ..TrafficRules::default()
    };
    let h: &[(&str, &str)] = &[];
    let mut req = request(&h);
    let vars = Vars::default();
    let r = rules.redirect(&req, &vars, 443).unwrap();
    assert_eq!(
        (r.status, r.location.as_str()),
        (301, "https://www.example.com/old/a?x=1")
    );
    req.tls = true;
    let r = rules.redirect(&req, &vars, 443).unwrap();
    assert_eq!(
        (r.status, r.location.as_str()),
        (302, "/rule/old/a"),
        "a rule beats a list"
    );
    req.path = "/listed";
    assert_eq!(rules.redirect(&req, &vars, 443).unwrap().location, "/from-list");
    req.path = "/other";
    assert_eq!(rules.redirect(&req, &vars, 443), None);
}

#[test]
fn has_redirect_answers_for_rules_and_lists() {
    let rules = TrafficRules {
        always_use_https: true,
        redirects: vec![redirect_rule(
            "r",
            r#"http.host eq "a.test" and http.request.uri.path eq "/x""#,
            "/y",
            301,
        )],
        redirect_lists: vec![list(&[("b.test/old", "/new"), ("/gone-everywhere", "/")])],
        ..TrafficRules::default()
    };
    assert!(rules.has_redirect("a.test", "/x"));
    assert!(
        !rules.has_redirect("b.test", "/x"),
        "always_use_https does not count"
    );
    assert!(rules.has_redirect("B.TEST", "/old"));
    assert!(rules.has_redirect("c.test", "/gone-everywhere"));
    assert!(!rules.has_redirect("c.test", "/old"));
}

#[test]
fn hsts_only_over_tls() {
    let rules = TrafficRules {
        hsts: Some(Hsts::new(31_536_000, true, false).unwrap()),
        ..TrafficRules::default()
    };
    assert_eq!(rules.hsts(true).unwrap(), "max-age=31536000; includeSubDomains");
    assert_eq!(rules.hsts(false), None);
    assert!(!rules.is_empty());
    assert!(TrafficRules::default().is_empty());
    assert_eq!(TrafficRules::default().hsts(true), None);
}

#[test]
fn response_code_is_only_for_response_rules() {
    let err = compile("http.response.code eq 404").unwrap_err();
    assert_eq!(err.column, 1);
    assert!(
        err.message.contains("only available in custom error rules"),
        "{}",
        err.message
    );
    let err = compile(r#"ssl and len(http.host) gt 1 or http.response.code in {500}"#).unwrap_err();
    assert_eq!(err.column, 32);
    let e = compile_response("http.response.code in {404 410} and not ssl").unwrap();
    let h: &[(&str, &str)] = &[];
    let req = request(&h);
    assert!(e.eval_response(&req, 404));
    assert!(!e.eval_response(&req, 403));
    assert!(!e.eval(&req), "without a response the code reads 0");
}

fn custom(
    id: &str,
    expr: &str,
    origin: bool,
    status: Option<u16>,
    format: ErrorFormat,
    body: &str,
) -> CustomErrorRule {
    CustomErrorRule {
        id: id.into(),
        expr: compile_response(expr).unwrap(),
        origin,
        status,
        content_type: HeaderValue::from_static(format.content_type()),
        body: ErrorBody::parse(format, body).unwrap(),
    }
}

fn facts(status: u16, from_origin: bool) -> ErrorFacts<'static> {
    ErrorFacts {
        status,
        from_origin,
        error_code: (!from_origin).then_some(1020),
        title: "Access <denied>",
        explanation: "Rule \"r1\" blocked you.\n",
    }
}

#[test]
fn custom_errors_select_by_status_expression_and_source() {
    let rules = TrafficRules {
        custom_errors: vec![
            custom(
                "api",
                r#"starts_with(http.request.uri.path, "/api/") and http.response.code ge 400"#,
                true,
                None,
                ErrorFormat::Json,
                r#"{"status": {{status}}, "code": {{error_code}}, "title": "{{title}}", "detail": "{{explanation}}", "ray": "{{request_id}}"}"#,
            ),
            custom(
                "403",
                "http.response.code eq 403",
                false,
                None,
                ErrorFormat::Html,
                "<h1>{{title}}</h1><p>{{client_ip}} {{zone}} {{host}}{{path}} {{method}}</p>",
            ),
            custom(
                "5xx",
                "http.response.code ge 500",
                true,
                Some(503),
                ErrorFormat::Markdown,
                "# {{status}} {{title}}\n\n{{error_code}}|{{request_id}}",
            ),
        ],
        ..TrafficRules::default()
    };
    let h: &[(&str, &str)] = &[];
    let mut req = request(&h);
    let vars = Vars {
        request_id: "8f1c",
        zone: "www",
    };

    let e = rules.custom_error(&req, &vars, &facts(403, false)).unwrap();
    assert_eq!(e.status, 403);
    assert_eq!(e.content_type, "text/html; charset=utf-8");
    assert_eq!(
        e.body,
        "<h1>Access &lt;denied&gt;</h1><p>198.51.100.7 www www.example.com/old/a GET</p>"
    );
    assert_eq!(
        rules.custom_error(&req, &vars, &facts(403, true)),
        None,
        "origin 403s are opt-in"
    );

    let e = rules.custom_error(&req, &vars, &facts(502, true)).unwrap();
    assert_eq!(
        (e.status, e.content_type.to_str().unwrap()),
        (503, "text/markdown; charset=utf-8")
    );
    assert_eq!(
        e.body, "# 503 Access <denied>\n\n|8f1c",
        "markdown is not escaped; no code for origin errors"
    );

    req.path = "/api/v1";
    let e = rules.custom_error(&req, &vars, &facts(403, false)).unwrap();
    assert_eq!(e.content_type, "application/json");
    assert_eq!(
        e.body,
        r#"{"status": 403, "code": 1020, "title": "Access <denied>", "detail": "Rule \"r1\" blocked you.\n", "ray": "8f1c"}"#
    );
    let e = rules.custom_error(&req, &vars, &facts(404, true)).unwrap();
    assert!(e.body.contains(r#""code": null"#), "{}", e.body);
    req.path = "/";
    assert_eq!(rules.custom_error(&req, &vars, &facts(404, false)), None);
}

#[test]
fn error_bodies_report_line_and_column() {
    let e = ErrorBody::parse(ErrorFormat::Html, "<p>\n  ok {{status}} {{ray_id}}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 17));
    assert!(
        e.message.contains("unknown placeholder {{ray_id}}"),
        "{}",
        e.message
    );
    let e = ErrorBody::parse(ErrorFormat::Text, "é {{status").unwrap_err();
    assert_eq!((e.line, e.column), (1, 3));
    assert_eq!(
        ErrorFormat::from_file_name("errors/404.HTML"),
        Some(ErrorFormat::Html)
    );
    assert_eq!(ErrorFormat::from_file_name("a.md"), Some(ErrorFormat::Markdown));
    assert_eq!(ErrorFormat::from_file_name("a"), None);
    assert_eq!(ErrorFormat::parse("json"), Some(ErrorFormat::Json));
}
