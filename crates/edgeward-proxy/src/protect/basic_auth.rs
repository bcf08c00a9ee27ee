//! Basic-auth paths: a zone path prefix that needs credentials gets a 401 with
//! `WWW-Authenticate`; a repeated identical failure gets a body saying what is needed.
//!
//! Not skippable by rules: it is access control, not threat detection. Credential
//! checking (constant-time) is `edgeward_waf::BasicAuth`'s.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use edgeward_config::ZonePolicy;
use edgeward_errors::{AuthChallenge, EdgeError};
use edgeward_waf::{AuthResult, BasicAuth};

use super::{under_prefix, Inspection, Stop};

/// The zone's protected prefixes with their realms and users.
pub(super) fn build(policy: &ZonePolicy) -> Vec<(String, BasicAuth)> {
    policy
        .auth
        .iter()
        .map(|a| {
            let basic = BasicAuth {
                realm: a.realm.clone(),
                users: a.users.clone(),
            };
            (a.path_prefix.clone(), basic)
        })
        .collect()
}

/// Refuses a request under a protected prefix without valid credentials.
pub(super) async fn check(x: &mut Inspection<'_>) -> Result<(), Stop> {
    let Some((_, auth)) = x
        .detectors
        .auth
        .iter()
        .find(|(prefix, _)| under_prefix(&x.path, prefix))
    else {
        return Ok(());
    };
    let header = x.req.head.header("authorization");
    match auth.check(header) {
        AuthResult::Ok => Ok(()),
        result => {
            let repeated =
                result == AuthResult::Invalid && x.shields.failed_auth.repeated(x.client_ip(), header);
            Err(Stop::Error(EdgeError::Unauthorized {
                challenge: AuthChallenge::Basic {
                    realm: auth.realm.clone(),
                },
                repeated,
            }))
        }
    }
}

/// Remembers recent failed credentials per client, to tell a repeated identical
/// failure (which gets a body explaining what is needed) from a first one.
#[derive(Default)]
pub(super) struct FailedAuth {
    seen: Mutex<HashMap<u64, Instant>>,
}

/// How long a failed attempt is remembered.
const FAILED_AUTH_MEMORY: Duration = Duration::from_secs(600);
/// Most failed attempts remembered; beyond, the memory is reset.
const FAILED_AUTH_MAX: usize = 10_000;

impl FailedAuth {
    /// Records a failure; whether the same client sent the same credentials recently.
    pub(super) fn repeated(&self, ip: IpAddr, authorization: Option<&[u8]>) -> bool {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        ip.hash(&mut hasher);
        authorization.hash(&mut hasher);
        let key = hasher.finish();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= FAILED_AUTH_MAX {
            seen.retain(|_, at| at.elapsed() < FAILED_AUTH_MEMORY);
            if seen.len() >= FAILED_AUTH_MAX {
                seen.clear();
            }
        }
        let now = Instant::now();
        match seen.insert(key, now) {
            Some(at) => now.duration_since(at) < FAILED_AUTH_MEMORY,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FailedAuth;

    #[test]
    fn the_same_failure_twice_is_repeated_a_different_one_is_not() {
        let failed = FailedAuth::default();
        let ip = "192.0.2.1".parse().unwrap();
        assert!(!failed.repeated(ip, Some(b"Basic eDp5")));
        assert!(failed.repeated(ip, Some(b"Basic eDp5")));
        assert!(!failed.repeated(ip, Some(b"Basic other")));
        assert!(!failed.repeated("192.0.2.2".parse().unwrap(), Some(b"Basic eDp5")));
    }
}
