//! Known vulnerability-scanner signatures.
//!
//! Owns: recognising the User-Agent strings and marker headers that off-the-shelf attack and
//! reconnaissance tools send by default:
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-scan-500` | scanner User-Agent (sqlmap, Nikto, Nmap NSE, masscan, zgrab, WPScan, …) |
//! | `waf-scan-501` | scanner marker headers (Acunetix, Netsparker/Invicti, WebInspect, Burp) |
//!
//! Does not own: abusive-but-not-scanner clients (spam bots, scrapers), which the Browser
//! Integrity Check in `browser` handles.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::sync::OnceLock;

/// Substrings of default scanner User-Agents, matched ASCII-case-insensitively.
pub const SCANNER_AGENTS: &[&str] = &[
    "sqlmap",
    "nikto",
    "nmap scripting engine",
    "nmap nse",
    "masscan",
    "zgrab",
    "wpscan",
    "dirbuster",
    "gobuster",
    "nuclei",
    "acunetix",
    "netsparker",
    "invicti",
    "w3af",
    "openvas",
    "nessus",
    "arachni",
    "skipfish",
    "whatweb",
    "wfuzz",
    "fuzz faster u fool",
    "ffuf",
    "feroxbuster",
    "dirb/",
    "(dirb)",
    "; dirb)",
    "jaeles",
    "appscan",
    "webinspect",
    "zmeu",
    "morfeus",
    "havij",
    "commix",
    "xsstrike",
    "paros/",
    "burp suite",
    "burpcollaborator",
    "joomscan",
    "droopescan",
    "cmsmap",
    "wapiti",
    "vega/",
    "grabber/",
    "qualys was",
    "detectify",
    "interactsh",
    "bsqlbf",
    "mysqloit",
    "pangolin",
    "fimap",
    "brutus",
    "hydra",
    "medusa/",
    "masscan-ng",
    "zmap",
    "l9scan",
    "leakix",
    "httpx - open-source",
    "projectdiscovery",
];

/// Header names only scanners send.
const SCANNER_HEADERS: &[&str] = &[
    "acunetix-product",
    "acunetix-scanning-agreement",
    "acunetix-user-agreement",
    "x-wipp",
    "x-scan-memo",
    "x-request-memo",
    "x-scanner",
    "netsparker",
    "x-burp-collaborator",
];

fn automaton() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(SCANNER_AGENTS)
            .expect("static scanner patterns build")
    })
}

/// The scanner signature in a User-Agent value, if any.
pub(crate) fn scanner_agent(ua: &[u8]) -> Option<&'static str> {
    automaton().find_iter(ua).find_map(|m| {
        let sig = SCANNER_AGENTS[m.pattern().as_usize()];
        // `grabber/` is the Grabber scanner, not `urlgrabber/3.10 yum/3.4.3` (or any other
        // product whose name merely ends in "grabber").
        let glued = m.start() > 0 && ua[m.start() - 1].is_ascii_alphanumeric();
        (!glued).then_some(sig)
    })
}

/// True when `name` is a header only scanners send.
pub(crate) fn scanner_header(name: &str) -> bool {
    SCANNER_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scanners_match() {
        for ua in [
            "sqlmap/1.7.2#stable (https://sqlmap.org)",
            "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
            "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
            "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
            "Mozilla/5.0 zgrab/0.x",
            "WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)",
            "gobuster/3.6",
            "Fuzz Faster U Fool v2.1.0",
            "Grabber/0.1 (X11; U; Linux i686; en-US; rv:1.7)",
        ] {
            assert!(scanner_agent(ua.as_bytes()).is_some(), "{ua}");
        }
        assert!(scanner_header("Acunetix-Product"));
    }

    #[test]
    fn browsers_and_tools_do_not_match() {
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "Wget/1.21.4",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "python-requests/2.31.0",
            "urlgrabber/3.10 yum/3.4.3",
            "urlgrabber/4.1.0 dnf/4.14.0",
        ] {
            assert_eq!(scanner_agent(ua.as_bytes()), None, "{ua}");
        }
    }
}
