//! The challenge as the proxy serves it: the interstitial page a challenged
//! request gets, and the endpoint (`POST /.edgeward/challenge`) that checks a
//! solution and grants the clearance cookie.
//!
//! The cryptography (nonces, proof of work, cookies) is `edgeward_waf`'s; this
//! module owns only the HTTP exchange around it.

use bytes::Bytes;
use edgeward_errors::{EdgeError, ForbiddenReason, MethodList};
use http::StatusCode;
use http_body_util::{BodyExt, Limited};

use crate::protect::{unix_now, Shields};
use crate::request::RequestCtx;
use crate::request_body::UpstreamBody;
use crate::response::{LocalReply, Outcome, Reply};

/// Largest solution form accepted.
const MAX_FORM: usize = 4096;

/// The rule id logged for a refused solution.
const CHALLENGE_RULE: &str = "challenge";

/// The interstitial for a request that needs a clearance first (403, like a block page,
/// so that clients that cannot run the script are not served the content).
pub fn interstitial(shields: &Shields, req: &RequestCtx<'_>) -> Reply {
    let ua = req.head.header("user-agent").unwrap_or(b"");
    let challenge = shields.key.issue_challenge(req.client_ip, ua, unix_now());
    Reply::Local(LocalReply {
        status: StatusCode::FORBIDDEN,
        content_type: "text/html; charset=utf-8".into(),
        headers: vec![("X-Edgeward-Challenge", challenge.nonce)],
        body: Bytes::from(challenge.page_html),
    })
}

/// Checks a posted solution; a good one gets the cookie and a redirect back.
pub async fn solve(shields: &Shields, req: &RequestCtx<'_>, body: UpstreamBody) -> Outcome {
    if req.head.method() != "POST" {
        return match MethodList::new(["POST"]) {
            Some(allow) => Outcome::edge(EdgeError::MethodNotAllowed { allow }),
            None => Outcome::edge(EdgeError::Internal),
        };
    }
    let form = match Limited::new(body, MAX_FORM).collect().await {
        Ok(collected) => edgeward_waf::ChallengeForm::parse(&collected.to_bytes()),
        Err(_) => None,
    };
    let refused = |why: &str| {
        tracing::info!(target: "edgeward::challenge", reason = why, "challenge solution refused");
        Outcome::edge(EdgeError::Forbidden {
            reason: ForbiddenReason::ChallengeFailed,
            rule_id: CHALLENGE_RULE.to_owned(),
        })
    };
    let Some(form) = form else {
        return refused("malformed form");
    };
    let ua = req.head.header("user-agent").unwrap_or(b"");
    match shields
        .key
        .verify_solution(&form.nonce, form.counter, req.client_ip, ua, unix_now())
    {
        Ok(cookie) => Outcome {
            source: Some(edgeward_errors::ErrorSource::Challenge),
            rule_id: Some(CHALLENGE_RULE.to_owned()),
            ..Outcome::of(Reply::Local(LocalReply {
                status: StatusCode::SEE_OTHER,
                content_type: "text/plain; charset=utf-8".into(),
                headers: vec![("Location", form.return_to), ("Set-Cookie", cookie.set_cookie)],
                body: Bytes::from_static(b"challenge passed\n"),
            }))
        },
        Err(e) => refused(&format!("{e:?}")),
    }
}
