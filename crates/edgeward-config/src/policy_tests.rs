//! Tests of the policy and service sections: a full file parses into the
//! typed values, and each fault names its line (and column inside expressions).

use std::path::Path;

use crate::{
    parse, Characteristic, ConfigError, IpAction, IpTarget, RateLimitAction, RateLimitStoreSettings,
    Sensitivity,
};

const ZONE: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n\n[[zones]]\nname = \"z\"\nhosts = [\"a.test\"]\norigins = [\"127.0.0.1:9000\"]\n";

fn load(extra: &str) -> Result<crate::Config, ConfigError> {
    parse(
        &format!("{ZONE}{extra}"),
        Path::new("edgeward.toml"),
        Path::new("."),
    )
}

fn fault(extra: &str) -> ConfigError {
    load(extra).expect_err("config should be refused")
}

#[test]
fn a_full_policy_parses() {
    let config = load(
        r#"browser_check = true
[[zones.rules]]
id = "admin"
expression = 'http.request.uri.path eq "/admin"'
action = "block"
[[zones.rules]]
id = "legal"
expression = 'starts_with(http.request.uri.path, "/banned")'
action = "legal_block"
blocked_by = "https://authority.example/order/1"
explanation = "Court order 1"
[[zones.rules]]
id = "crawl"
expression = 'lower(http.user_agent) contains "bot"'
action = "payment_required"
headers = { "Crawler-Price" = "USD 0.01" }
message = "Crawling costs money"
[[zones.rate_limits]]
id = "scan404"
characteristics = ["ip", "header:X-Api-Key"]
requests = 10
period = "10s"
count_statuses = [404, "4xx"]
[zones.waf]
sensitivity = "high"
[[zones.ip_rules]]
match = "203.0.113.0/24"
action = "block"
[[zones.ip_rules]]
id = "cc"
match = "country:au"
action = "challenge"
[[zones.auth]]
path_prefix = "/private"
realm = "Private"
users = ["alice:secret"]

[rate_limit_store]
kind = "redis"
url = "redis://127.0.0.1:6379"
"#,
    )
    .unwrap();
    let p = &config.zones[0].policy;
    assert_eq!(p.rules.len(), 3);
    assert!(p.browser_check);
    assert_eq!(p.waf.sensitivity, Sensitivity::High);
    let rl = &p.rate_limits[0];
    assert_eq!(
        rl.characteristics,
        vec![Characteristic::Ip, Characteristic::Header("x-api-key".into())]
    );
    assert_eq!(rl.action, RateLimitAction::Block);
    let statuses = rl.count_statuses.as_ref().unwrap();
    assert!(statuses.matches(404) && statuses.matches(429) && !statuses.matches(500));
    assert_eq!(p.ip_rules[0].id, "ip-rule-1");
    assert_eq!(
        p.ip_rules[0].target,
        IpTarget::Net("203.0.113.0".parse().unwrap(), 24)
    );
    assert_eq!(
        (p.ip_rules[1].target.clone(), p.ip_rules[1].action),
        (IpTarget::Country("AU".into()), IpAction::Challenge)
    );
    assert_eq!(p.auth[0].users, vec![("alice".to_string(), "secret".to_string())]);
    assert!(matches!(
        config.services.rate_limit_store,
        RateLimitStoreSettings::Redis { fail_open: true, .. }
    ));
}

#[test]
fn an_expression_error_points_inside_the_string() {
    let e =
        fault("[[zones.rules]]\nid = \"r\"\nexpression = 'http.usr_agent eq \"x\"'\naction = \"block\"\n");
    assert_eq!(e.line, Some(10), "{e}");
    assert_eq!(e.column, Some(15), "{e}");
    assert!(e.message.contains("usr_agent"), "{e}");
}

#[test]
fn policy_faults_name_their_line() {
    let cases = [
        (
            "[[zones.rules]]\nid = \"r\"\nexpression = 'ssl'\naction = \"explode\"\n",
            11,
            "unknown action",
        ),
        (
            "[[zones.rules]]\nid = \"r\"\nexpression = 'ssl'\naction = \"legal_block\"\n",
            11,
            "blocked_by",
        ),
        (
            "[[zones.rules]]\nid = \"r\"\nexpression = 'ssl'\naction = \"skip\"\nphases = [\"wafs\"]\n",
            12,
            "unknown phase",
        ),
        (
            "[[zones.ip_rules]]\nmatch = \"10.0.0.0/33\"\naction = \"block\"\n",
            9,
            "invalid IP rule target",
        ),
        (
            "[[zones.rate_limits]]\nid = \"x\"\nrequests = 5\nperiod = \"1s\"\ncharacteristics = [\"ua\"]\n",
            12,
            "characteristic",
        ),
        (
            "[[zones.rate_limits]]\nid = \"x\"\nrequests = 5\nperiod = \"1s\"\ncount_statuses = [\"9xx\"]\n",
            12,
            "class",
        ),
        (
            "[[zones.auth]]\npath_prefix = \"/p\"\nrealm = \"r\"\nusers = [\"nopassword\"]\n",
            11,
            "name:password",
        ),
        ("[rate_limit_store]\nkind = \"redis\"\n", 9, "needs `url`"),
        ("[admin]\nlisten = \"0.0.0.0:9090\"\n", 9, "token"),
        ("[analytics]\nretention = \"forever\"\n", 9, "retention"),
    ];
    for (extra, line, needle) in cases {
        let e = fault(extra);
        assert_eq!(e.line, Some(line), "{extra}: {e}");
        assert!(e.message.contains(needle), "{extra}: {e}");
    }
}

#[test]
fn duplicate_rule_ids_are_refused() {
    let e = fault(
        "[[zones.rules]]\nid = \"r\"\nexpression = 'ssl'\naction = \"log\"\n\
         [[zones.rate_limits]]\nid = \"r\"\nrequests = 1\nperiod = \"1s\"\n",
    );
    assert_eq!(e.line, Some(13));
    assert!(e.message.contains("duplicate rule id"));
}

#[test]
fn head_timers_are_listener_wide() {
    let e = fault("limits = { header_timeout = \"5s\" }\n");
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("set it in [limits]"), "{e}");
}

#[test]
fn waf_settings_default_and_parse() {
    let p = load("").unwrap().zones[0].policy.clone();
    assert_eq!(p.waf.body_limit, 1024 * 1024);
    assert!(!p.waf.detection_only && !p.waf.block_oversize);
    assert_eq!(p.waf.allowed_methods.len(), 7);
    let config = load(
        "[zones.waf]\nmode = \"log\"\noversize = \"block\"\nbody_limit = 2097152\n\
         disabled_rules = [\"waf-sqli-105\", \"waf-proto\"]\nallowed_methods = [\"GET\", \"POST\", \"PROPFIND\"]\n",
    )
    .unwrap();
    let w = &config.zones[0].policy.waf;
    assert!(w.detection_only && w.block_oversize);
    assert_eq!(w.body_limit, 2 * 1024 * 1024);
    assert_eq!(w.decoded_limit, 16 * 1024 * 1024);
    assert_eq!(w.disabled_rules, ["waf-sqli-105", "waf-proto"]);
    assert_eq!(w.allowed_methods, ["GET", "POST", "PROPFIND"]);
}

#[test]
fn waf_settings_faults_name_the_line() {
    for (extra, line, words) in [
        ("[zones.waf]\nmode = \"loud\"\n", 9, "unknown mode `loud`"),
        ("[zones.waf]\noversize = \"drop\"\n", 9, "unknown oversize `drop`"),
        (
            "[zones.waf]\ndisabled_rules = [\"sqli-100\"]\n",
            9,
            "invalid managed rule `sqli-100`",
        ),
        (
            "[zones.waf]\ndisabled_rules = [\"waf-foo-1\"]\n",
            9,
            "invalid managed rule `waf-foo-1`",
        ),
        (
            "[zones.waf]\nallowed_methods = [\"GE T\"]\n",
            9,
            "invalid method `GE T`",
        ),
        (
            "[zones.waf]\nallowed_methods = []\n",
            9,
            "`allowed_methods` is empty",
        ),
        (
            "[zones.waf]\nbody_limit = 4096\ndecoded_limit = 2048\n",
            10,
            "at least `body_limit`",
        ),
    ] {
        let e = fault(extra).to_string();
        assert!(e.contains(words), "{extra}: {e}");
        assert!(e.contains(&format!(":{line}:")), "{extra}: {e}");
    }
}
