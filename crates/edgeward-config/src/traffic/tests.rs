//! Traffic rules from TOML: each kind parsed into its typed value and checked by behaviour, and
//! each fault asserted on the file, line and column it reports (list files included).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use edgeward_rules::{ErrorFacts, Request, Vars};
use http::{HeaderMap, HeaderValue};

use crate::{parse, Config, ConfigError};

/// Lines 1–6.
const HEAD: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n[[zones]]\nname = \"www\"\nhosts = [\"example.com\"]\norigins = [\"127.0.0.1:9000\"]\n";

/// Fixture files, written once per process (tests run in parallel).
fn dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("edgeward-traffic-tests-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("errors")).unwrap();
        let files = [
            ("moved.csv", "source,target,status,preserve_query\n# moved in 2024\n/old,/new\nexample.com/a,\"https://example.com/b,c\",308,true\n\n/p,/q,,\n"),
            ("moved.toml", "[[redirects]]\nsource = \"https://Example.com/t\"\ntarget = \"/u\"\nstatus = 302\npreserve_query = true\n"),
            ("errors/api.json", "{\"status\": {{status}}, \"code\": {{error_code}}, \"ray\": \"{{request_id}}\"}"),
            ("errors/broken.html", "<p>ok</p>\n<p>{{ ray }}</p>"),
            ("bad-status.csv", "/a,/b\n/c,/d,300\n"),
            ("one-field.csv", "/a,/b\n\n/c\n"),
            ("unclosed.csv", "/a,\"/b\n"),
            ("dup.csv", "/a,/b\n#\n/x,/y\n/a,/c\n"),
            ("bad-source.csv", "/a,/b\n  x.test:8080/a,/b\n"),
            ("bad-target.csv", "/a,relative\n"),
            ("bad-flag.csv", "/a,/b,301,yes\n"),
            ("bad.toml", "[[redirects]]\nsource = \"/a\"\ntarget = \"/b\"\nstatus = 304\n"),
            ("list.txt", "/a,/b\n"),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    })
    .clone()
}

fn ok(zone: &str) -> Config {
    parse(&format!("{HEAD}{zone}"), Path::new("edgeward.toml"), &dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// The fault of a zone snippet (its first line is line 7), checked for `line` and `fault`.
fn fault(zone: &str, line: usize, fault: &str) -> ConfigError {
    let err = match parse(&format!("{HEAD}{zone}"), Path::new("edgeward.toml"), &dir()) {
        Ok(_) => panic!("accepted:\n{zone}"),
        Err(e) => e,
    };
    assert_eq!(err.line, Some(line), "{err}");
    assert!(err.message.contains(fault), "{err} lacks {fault:?}");
    err
}

/// The fault a list file gives: in that file, at `line:column`, naming the config line.
fn list_fault(file: &str, line: usize, column: usize, fault: &str) {
    let err = match parse(
        &format!("{HEAD}[[zones.redirect_lists]]\nfile = \"{file}\"\n"),
        Path::new("edgeward.toml"),
        &dir(),
    ) {
        Ok(_) => panic!("accepted {file}"),
        Err(e) => e,
    };
    assert_eq!(err.file, dir().join(file), "{err}");
    assert_eq!((err.line, err.column), (Some(line), Some(column)), "{err}");
    assert!(err.message.contains(fault), "{err} lacks {fault:?}");
    assert!(
        err.message.contains("(redirect list named at edgeward.toml:8)"),
        "{err}"
    );
}

#[test]
fn every_kind_parses_and_behaves() {
    let config = ok(r##"always_use_https = true
hsts = { max_age = 63072000, include_subdomains = true, preload = true }
[[zones.redirects]]
id = "blog"
expression = 'starts_with(http.request.uri.path, "/blog/")'
target_expression = 'regex_replace(http.request.uri.path, "^/blog/(.*)", "/news/${1}")'
status = 308
preserve_query = true
[[zones.redirects]]
id = "shop"
expression = 'http.request.uri.path eq "/shop"'
target = "https://shop.example.com${uri}"
[[zones.redirect_lists]]
file = "moved.csv"
[[zones.redirect_lists]]
file = "moved.toml"
[[zones.request_transforms]]
id = "tag"
expression = "ssl"
headers = [
  { op = "set", name = "X-Client-IP", value = "${ip.src}" },
  { op = "add", name = "x-zone", value_expression = 'upper(zone)' },
  { op = "remove", name = "cookie" },
]
path = "/v2${path}"
[[zones.response_transforms]]
id = "nosniff"
expression = "http.response.code lt 400"
headers = [{ op = "set", name = "x-content-type-options", value = "nosniff" }]
[[zones.custom_errors]]
id = "api"
expression = 'starts_with(http.request.uri.path, "/api/")'
origin = true
file = "errors/api.json"
[[zones.custom_errors]]
id = "gone"
expression = "http.response.code eq 404"
status = 410
format = "markdown"
body = "# {{status}} {{title}}"
"##);
    let t = &config.zones[0].traffic;
    assert!(t.always_use_https);
    assert_eq!(
        t.hsts(true).unwrap(),
        "max-age=63072000; includeSubDomains; preload"
    );
    assert_eq!((t.redirects.len(), t.redirect_lists.len()), (2, 2));
    assert_eq!(t.redirect_lists[0].len(), 3);
    assert_eq!(t.redirect_lists[1].len(), 1);

    let h: &[(&str, &str)] = &[("cookie", "a=1")];
    let mut req = Request::new("192.0.2.9".parse().unwrap(), &h);
    let vars = Vars {
        request_id: "8f1c",
        zone: "www",
    };
    req.host = "example.com";
    req.path = "/blog/x";
    req.query = "p=1";
    assert_eq!(
        t.redirect(&req, &vars, 443).unwrap().location,
        "https://example.com/blog/x?p=1"
    );
    req.tls = true;
    let r = t.redirect(&req, &vars, 443).unwrap();
    assert_eq!((r.status, r.location.as_str()), (308, "/news/x?p=1"));
    req.path = "/shop";
    assert_eq!(
        t.redirect(&req, &vars, 443).unwrap().location,
        "https://shop.example.com/shop?p=1"
    );
    req.path = "/a";
    let r = t.redirect(&req, &vars, 443).unwrap();
    assert_eq!(
        (r.status, r.location.as_str()),
        (308, "https://example.com/b,c?p=1")
    );
    req.path = "/t";
    assert_eq!(t.redirect(&req, &vars, 443).unwrap().status, 302);
    assert!(t.has_redirect("example.com", "/old") && t.has_redirect("other", "/p"));
    assert!(!t.has_redirect("example.com", "/nothing"));

    let mut headers = HeaderMap::new();
    headers.insert("cookie", HeaderValue::from_static("a=1"));
    let mut pq = None;
    assert_eq!(t.apply_request(&req, &vars, &mut headers, &mut pq).rules, 1);
    assert_eq!(pq.as_deref(), Some("/v2/t?p=1"));
    assert_eq!(headers["x-client-ip"], "192.0.2.9");
    assert_eq!(headers["x-zone"], "WWW");
    assert!(!headers.contains_key("cookie"));
    assert_eq!(t.apply_response(&req, &vars, 200, &mut headers).rules, 1);
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let facts = |status, from_origin| ErrorFacts {
        status,
        from_origin,
        error_code: None,
        title: "Not Found",
        explanation: "",
    };
    let e = t.custom_error(&req, &vars, &facts(404, false)).unwrap();
    assert_eq!((e.status, e.body.as_str()), (410, "# 410 Not Found"));
    assert_eq!(e.content_type, "text/markdown; charset=utf-8");
    assert_eq!(
        t.custom_error(&req, &vars, &facts(404, true)),
        None,
        "origin errors are opt-in"
    );
    req.path = "/api/x";
    let e = t.custom_error(&req, &vars, &facts(502, true)).unwrap();
    assert_eq!(e.body, r#"{"status": 502, "code": null, "ray": "8f1c"}"#);
    assert_eq!(e.content_type, "application/json");
}

#[test]
fn rule_faults_name_their_line_and_column() {
    let redirect = |body: &str| format!("[[zones.redirects]]\nid = \"r\"\n{body}\n");
    fault(
        &redirect("expression = \"ssl\"\ntarget = \"/x\"\nstatus = 300"),
        11,
        "not one of 301, 302, 303, 307, 308",
    );
    fault(&redirect("expression = \"ssl\""), 8, "needs `target`");
    fault(
        &redirect("expression = \"ssl\"\ntarget = \"/x\"\ntarget_expression = '\"/y\"'"),
        11,
        "not both",
    );
    let e = fault(
        &redirect("expression = \"ssl\"\ntarget = \"/a/${nope}\""),
        10,
        "unknown placeholder ${nope}",
    );
    assert_eq!(e.column, Some(14));
    let e = fault(
        &redirect("expression = \"http.response.code eq 404\"\ntarget = \"/x\""),
        9,
        "only available",
    );
    assert_eq!(e.column, Some(15));
    let e = fault(
        &redirect("expression = \"ssl\"\ntarget_expression = 'regex_replace(path, \"(\", \"x\")'"),
        10,
        "in `target_expression`",
    );
    assert_eq!(e.column, Some(42));
    fault("hsts = { preload = true }", 7, "include_subdomains");
    fault(
        "[zones.hsts]\nmax_age = 1\ninclude_subdomains = true\npreload = true",
        10,
        "at least 31536000",
    );
    fault("[zones.hsts]\nmax_age = 99999999999", 8, "out of range");
    fault("[[zones.redirects]]\nid = \"same\"\nexpression = \"ssl\"\ntarget = \"/\"\n[[zones.custom_errors]]\nid = \"same\"\nexpression = \"ssl\"\nbody = \"x\"", 12, "duplicate id `same`");
    fault(
        "[[zones.redirects]]\nid = \"r\"\nexpression = \"ssl\"\ntarget = \"/\"\nkeep_query = true",
        11,
        "unknown field `keep_query`",
    );
}

#[test]
fn transform_faults() {
    let t = |kind: &str, body: &str| format!("[[zones.{kind}]]\nid = \"t\"\nexpression = \"ssl\"\n{body}\n");
    fault(
        &t(
            "request_transforms",
            "headers = [{ op = \"set\", name = \"content-length\", value = \"1\" }]",
        ),
        10,
        "cannot be transformed",
    );
    fault(
        &t(
            "request_transforms",
            "headers = [{ op = \"rename\", name = \"a\" }]",
        ),
        10,
        "unknown header op `rename`",
    );
    fault(
        &t("request_transforms", "headers = [{ op = \"set\", name = \"a\" }]"),
        10,
        "need a `value`",
    );
    fault(
        &t(
            "request_transforms",
            "headers = [{ op = \"remove\", name = \"a\", value = \"x\" }]",
        ),
        10,
        "takes no value",
    );
    fault(
        &t(
            "request_transforms",
            "headers = [{ op = \"set\", name = \"a\", value = \"x\\ny\" }]",
        ),
        10,
        "invalid header value",
    );
    fault(&t("request_transforms", "path = \"v2\""), 10, "must start with /");
    fault(&t("request_transforms", ""), 8, "changes nothing");
    fault(&t("response_transforms", "path = \"/x\""), 10, "headers only");
    let e = fault(
        &t(
            "response_transforms",
            "headers = [{ op = \"set\", name = \"a\", value = \"${1}\" }]",
        ),
        10,
        "unknown placeholder ${1}",
    );
    assert!(e.message.contains("in `value`"), "{e}");
}

#[test]
fn custom_error_faults() {
    let c = |body: &str| {
        format!("[[zones.custom_errors]]\nid = \"c\"\nexpression = \"http.response.code ge 500\"\n{body}\n")
    };
    fault(&c("status = 200\nbody = \"x\""), 10, "expected 400 to 599");
    fault(&c(""), 8, "needs `body` (inline) or `file`");
    fault(&c("body = \"x\"\nfile = \"errors/api.json\""), 11, "not both");
    fault(
        &c("file = \"errors/none.html\""),
        10,
        "cannot read `errors/none.html`",
    );
    fault(&c("format = \"xml\"\nbody = \"x\""), 10, "unknown format `xml`");
    fault(
        &c("format = \"json\"\nbody = '{\"title\": {{title}}}'"),
        11,
        "not a JSON document once rendered",
    );
    fault(&c("body = \"<p>{{ ray }}</p>\""), 10, "its line 1, column 4");
    fault(
        &c("content_type = \"text/html\\n\"\nbody = \"x\""),
        10,
        "valid header value",
    );
    let err = parse(
        &format!("{HEAD}{}", c("file = \"errors/broken.html\"")),
        Path::new("edgeward.toml"),
        &dir(),
    )
    .unwrap_err();
    assert_eq!(err.file, dir().join("errors/broken.html"));
    assert_eq!((err.line, err.column), (Some(2), Some(4)), "{err}");
    assert!(
        err.message.contains("unknown placeholder {{ray}}") && err.message.contains("custom error `c`"),
        "{err}"
    );
}

#[test]
fn list_faults_name_the_list_line_and_column() {
    list_fault("bad-status.csv", 2, 7, "status `300` is not one of");
    list_fault("one-field.csv", 3, 1, "found 1 field(s)");
    list_fault("unclosed.csv", 1, 4, "unclosed quote");
    list_fault("dup.csv", 4, 1, "duplicate source (first listed on line 1)");
    list_fault("bad-source.csv", 2, 1, "no valid host");
    list_fault("bad-target.csv", 1, 4, "must be an absolute URL");
    list_fault("bad-flag.csv", 1, 11, "preserve_query `yes`");
    list_fault("bad.toml", 4, 10, "status 304 is not one of");
    fault(
        "[[zones.redirect_lists]]\nfile = \"list.txt\"",
        8,
        "expected csv or toml",
    );
    fault(
        "[[zones.redirect_lists]]\nfile = \"absent.csv\"",
        8,
        "cannot read redirect list `absent.csv`",
    );
    let ok = ok("[[zones.redirect_lists]]\nfile = \"list.txt\"\nformat = \"csv\"");
    assert_eq!(ok.zones[0].traffic.redirect_lists[0].len(), 1);
}

#[test]
fn a_hundred_thousand_entries_load_and_match() {
    const N: usize = 100_000;
    let path = dir().join("big.csv");
    let mut csv = String::with_capacity(N * 64);
    for i in 0..N {
        csv.push_str(&format!(
            "example.com/old/section-{}/page-{i}.html,https://example.com/new/{i},301\n",
            i % 97
        ));
    }
    std::fs::write(&path, csv).unwrap();
    let started = std::time::Instant::now();
    let config = ok("[[zones.redirect_lists]]\nfile = \"big.csv\"");
    let load = started.elapsed();
    let t = &config.zones[0].traffic;
    assert_eq!(t.redirect_lists[0].len(), N);
    let started = std::time::Instant::now();
    for i in (0..N).step_by(7) {
        let p = format!("/old/section-{}/page-{i}.html", i % 97);
        assert!(t.has_redirect("Example.COM", &p), "{p}");
    }
    let lookups = started.elapsed();
    assert!(!t.has_redirect("example.com", "/old/section-1/page-1.htm"));
    eprintln!(
        "100k-entry CSV: loaded in {load:?}; {} lookups in {lookups:?} (debug build)",
        N / 7 + 1
    );
}

#[test]
fn the_shipped_example_has_every_kind() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/edgeward.toml");
    let config = crate::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let t = &config.zones[0].traffic;
    assert_eq!(t.redirects.len(), 2);
    assert_eq!(t.redirect_lists[0].len(), 3);
    assert!(t.has_redirect("example.com", "/a,b") && t.has_redirect("other.example.com", "/press"));
    assert_eq!((t.request_transforms.len(), t.response_transforms.len()), (1, 1));
    assert_eq!(t.custom_errors.len(), 2);
    assert_eq!(t.hsts(true).unwrap(), "max-age=31536000");
}
