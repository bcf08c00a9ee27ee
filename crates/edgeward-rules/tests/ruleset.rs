//! RuleSet semantics: ordering, log, skip, allow, terminating actions, and the route
//! restrictions (Methods / ContentTypes) that terminate only when violated.

use edgeward_rules::{compile, Action, Phase, PhaseSet, Request, Rule, RuleSet, Verdict};

fn rule(id: &str, src: &str, action: Action) -> Rule {
    Rule::new(id, compile(src).unwrap_or_else(|e| panic!("{src}: {e}")), action)
}

const ALWAYS: &str = "not ssl";
const NEVER: &str = "ssl";

fn run<'r>(set: &'r RuleSet, req: &Request<'_>) -> (Verdict<'r>, Vec<&'r str>) {
    let mut logged = Vec::new();
    let v = set.evaluate(req, &mut |r: &'r Rule| logged.push(r.id.as_str()));
    (v, logged)
}

fn decision<'r>(v: &Verdict<'r>) -> Option<&'r str> {
    v.decision.map(|r| r.id.as_str())
}

fn base(headers: &'static [(&'static str, &'static str)]) -> Request<'static> {
    let h: &'static &'static [(&'static str, &'static str)] = Box::leak(Box::new(headers));
    Request::new("198.51.100.7".parse().unwrap(), h)
}

#[test]
fn first_terminating_rule_wins_in_order() {
    let set = RuleSet::new(vec![
        rule("no", NEVER, Action::Block),
        rule("gone", ALWAYS, Action::Gone),
        rule("block", ALWAYS, Action::Block),
    ]);
    assert_eq!(set.len(), 3);
    assert!(!set.is_empty());
    let (v, logged) = run(&set, &base(&[]));
    assert_eq!(decision(&v), Some("gone"));
    assert!(logged.is_empty());
    assert!(v.skipped.is_empty());
}

#[test]
fn every_terminating_action_terminates() {
    for action in [
        Action::Block,
        Action::Challenge,
        Action::Gone,
        Action::legal_block("https://authority.example", "court order 123"),
        Action::payment_required(vec![("crawler-price".into(), "USD 0.01".into())], "pay to crawl"),
    ] {
        let kind = action.kind();
        let set = RuleSet::new(vec![
            rule("t", ALWAYS, action),
            rule("after", ALWAYS, Action::Block),
        ]);
        let (v, _) = run(&set, &base(&[]));
        assert_eq!(decision(&v), Some("t"), "{kind}");
    }
}

#[test]
fn log_reports_every_match_and_continues() {
    let set = RuleSet::new(vec![
        rule("log1", ALWAYS, Action::Log),
        rule("log-miss", NEVER, Action::Log),
        rule("log2", ALWAYS, Action::Log),
        rule("chal", ALWAYS, Action::Challenge),
        rule("log3", ALWAYS, Action::Log),
    ]);
    let (v, logged) = run(&set, &base(&[]));
    assert_eq!(logged, ["log1", "log2"]);
    assert_eq!(decision(&v), Some("chal"));
}

#[test]
fn no_match_means_no_decision() {
    let set = RuleSet::new(vec![
        rule("a", NEVER, Action::Block),
        rule("b", NEVER, Action::Log),
    ]);
    let (v, logged) = run(&set, &base(&[]));
    assert!(v.decision.is_none());
    assert!(logged.is_empty());
    let empty = RuleSet::new(vec![]);
    assert!(empty.is_empty());
    assert!(run(&empty, &base(&[])).0.decision.is_none());
}

#[test]
fn skip_accumulates_later_phases_and_continues() {
    let set = RuleSet::new(vec![
        rule("s1", ALWAYS, Action::skip([Phase::Waf])),
        rule("s-miss", NEVER, Action::skip([Phase::IpRules])),
        rule("s2", ALWAYS, Action::skip([Phase::RateLimit, Phase::Waf])),
        rule("log", ALWAYS, Action::Log),
    ]);
    let (v, logged) = run(&set, &base(&[]));
    assert!(v.decision.is_none());
    assert_eq!(logged, ["log"]);
    assert!(v.skipped.contains(Phase::Waf));
    assert!(v.skipped.contains(Phase::RateLimit));
    assert!(!v.skipped.contains(Phase::IpRules));
    assert!(!v.skipped.contains(Phase::CustomRules));
    assert_eq!(
        v.skipped.iter().collect::<Vec<_>>(),
        [Phase::Waf, Phase::RateLimit]
    );
}

#[test]
fn skip_keeps_its_phases_when_a_later_rule_blocks() {
    let set = RuleSet::new(vec![
        rule("s", ALWAYS, Action::skip([Phase::BrowserCheck])),
        rule("b", ALWAYS, Action::Block),
    ]);
    let (v, _) = run(&set, &base(&[]));
    assert_eq!(decision(&v), Some("b"));
    assert!(v.skipped.contains(Phase::BrowserCheck));
}

#[test]
fn skipping_custom_rules_ends_rule_evaluation() {
    let set = RuleSet::new(vec![
        rule("s", ALWAYS, Action::skip([Phase::CustomRules, Phase::Waf])),
        rule("log", ALWAYS, Action::Log),
        rule("b", ALWAYS, Action::Block),
    ]);
    let (v, logged) = run(&set, &base(&[]));
    assert!(v.decision.is_none());
    assert!(logged.is_empty());
    assert!(v.skipped.contains(Phase::CustomRules));
    assert!(v.skipped.contains(Phase::Waf));
}

#[test]
fn allow_ends_evaluation_and_skips_every_phase() {
    let set = RuleSet::new(vec![
        rule("log", ALWAYS, Action::Log),
        rule("allow", r#"ip.src in {198.51.100.0/24}"#, Action::Allow),
        rule("b", ALWAYS, Action::Block),
    ]);
    let (v, logged) = run(&set, &base(&[]));
    assert_eq!(decision(&v), Some("allow"));
    assert_eq!(logged, ["log"]);
    assert_eq!(v.skipped, PhaseSet::all());
    for p in Phase::ALL {
        assert!(v.skipped.contains(p));
    }
}

#[test]
fn methods_terminates_only_when_the_method_is_not_listed() {
    let set = RuleSet::new(vec![
        rule(
            "upload",
            r#"http.request.uri.path eq "/api/upload""#,
            Action::methods(["POST", " PUT "]),
        ),
        rule("after", ALWAYS, Action::Log),
    ]);
    let mut req = base(&[]);
    req.path = "/api/upload";
    req.method = "POST";
    let (v, logged) = run(&set, &req);
    assert!(v.decision.is_none());
    assert_eq!(logged, ["after"], "an allowed method continues evaluation");
    req.method = "PUT";
    assert!(run(&set, &req).0.decision.is_none());
    req.method = "DELETE";
    let (v, logged) = run(&set, &req);
    assert_eq!(decision(&v), Some("upload"));
    assert!(logged.is_empty());
    req.method = "post";
    assert_eq!(
        decision(&run(&set, &req).0),
        Some("upload"),
        "methods are case-sensitive"
    );
    req.path = "/elsewhere";
    req.method = "DELETE";
    assert!(
        run(&set, &req).0.decision.is_none(),
        "the expression selects the route"
    );
    let Action::Methods(allowed) = &set.rules()[0].action else {
        unreachable!()
    };
    assert_eq!(allowed, &["POST", "PUT"], "the Allow list for the 405");
}

#[test]
fn content_types_compare_the_media_type_ignoring_parameters_and_case() {
    let set = RuleSet::new(vec![rule(
        "json-only",
        r#"starts_with(http.request.uri.path, "/api/")"#,
        Action::content_types(["application/json", "Application/Merge-Patch+JSON"]),
    )]);
    let check = |headers: &'static [(&'static str, &'static str)], body: u64| {
        let mut req = base(headers);
        req.path = "/api/items";
        req.method = "POST";
        req.body_size = body;
        decision(&run(&set, &req).0).is_some()
    };
    assert!(!check(&[("Content-Type", "application/json")], 10));
    assert!(!check(&[("content-type", "Application/JSON; charset=utf-8")], 10));
    assert!(!check(
        &[("Content-Type", " application/merge-patch+json ;x=y")],
        10
    ));
    assert!(check(&[("Content-Type", "text/plain")], 10));
    assert!(check(&[("Content-Type", "application/jsonx")], 10));
    assert!(check(&[("Content-Type", "")], 10));
    assert!(check(&[], 10), "a body without a Content-Type is refused");
    assert!(!check(&[], 0), "no body and no Content-Type: nothing to refuse");
}

#[test]
fn content_types_built_directly_still_compare_case_insensitively() {
    let set = RuleSet::new(vec![rule(
        "ct",
        ALWAYS,
        Action::ContentTypes(vec!["Text/CSV".into()]),
    )]);
    let req = base(&[("Content-Type", "text/csv")]);
    assert!(run(&set, &req).0.decision.is_none());
}

#[test]
fn phases_parse_from_config_names() {
    for p in Phase::ALL {
        assert_eq!(Phase::parse(p.as_str()), Some(p));
        assert_eq!(p.to_string(), p.as_str());
    }
    assert_eq!(Phase::parse("waf"), Some(Phase::Waf));
    assert_eq!(Phase::parse("rate_limit"), Some(Phase::RateLimit));
    assert_eq!(Phase::parse("browser_check"), Some(Phase::BrowserCheck));
    assert_eq!(Phase::parse("ip_rules"), Some(Phase::IpRules));
    assert_eq!(Phase::parse("custom_rules"), Some(Phase::CustomRules));
    assert_eq!(Phase::parse("WAF"), None);
    let s: PhaseSet = [Phase::Waf, Phase::IpRules].into_iter().collect();
    assert!(s.contains(Phase::Waf) && s.contains(Phase::IpRules) && !s.contains(Phase::RateLimit));
}

#[test]
fn a_cleared_challenge_lets_evaluation_reach_later_rules() {
    let set = RuleSet::new(vec![
        rule("challenge", ALWAYS, Action::Challenge),
        rule("block", ALWAYS, Action::Block),
    ]);
    let req = base(&[]);
    let uncleared = set.evaluate_cleared(&req, false, &mut |_| {});
    assert_eq!(decision(&uncleared), Some("challenge"));
    let cleared = set.evaluate_cleared(&req, true, &mut |_| {});
    assert_eq!(decision(&cleared), Some("block"));
    let only_challenge = RuleSet::new(vec![rule("challenge", ALWAYS, Action::Challenge)]);
    assert_eq!(
        decision(&only_challenge.evaluate_cleared(&req, true, &mut |_| {})),
        None
    );
}
