//! Purge: what a purge request names ([`Purge`]: one URL, a prefix, a host, a `Cache-Tag`
//! value, everything), which entries it matches, and its fan-out to every edge over Redis
//! pub/sub ([`PurgeFanout`]).
//!
//! URLs are matched without their scheme (`http://` and `https://` objects of one URL are
//! purged together) and with the host lowercased. The wire format on the channel is one line:
//! `url <u>`, `prefix <p>`, `host <h>`, `tag <t>` or `all`. This module does not own the admin
//! API route (the admin crate calls [`crate::Cache::purge`] and [`PurgeFanout::publish`]).

use std::time::Duration;

use futures_util::StreamExt;

use crate::object::Origin;

/// What to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// One URL (all its variants), e.g. `https://example.com/a?b=1`.
    Url(String),
    /// Every URL starting with this, e.g. `example.com/static/`.
    Prefix(String),
    /// Every URL of a host.
    Host(String),
    /// Every object whose `Cache-Tag` lists this tag (case-insensitive).
    Tag(String),
    /// Everything.
    Everything,
}

impl Purge {
    /// Whether an entry with purge identity `o` is purged.
    pub fn matches(&self, o: &Origin) -> bool {
        match self {
            Purge::Url(u) => o.url == normalise_url(u),
            Purge::Prefix(p) => o.url.starts_with(&normalise_url(p)),
            Purge::Host(h) => o.host.eq_ignore_ascii_case(strip_port(h.trim())),
            Purge::Tag(t) => o.tags.iter().any(|x| x.eq_ignore_ascii_case(t.trim())),
            Purge::Everything => true,
        }
    }

    /// The one-line wire form.
    pub fn to_wire(&self) -> String {
        match self {
            Purge::Url(u) => format!("url {u}"),
            Purge::Prefix(p) => format!("prefix {p}"),
            Purge::Host(h) => format!("host {h}"),
            Purge::Tag(t) => format!("tag {t}"),
            Purge::Everything => "all".to_string(),
        }
    }

    /// Parses the wire form; `None` for anything else.
    pub fn from_wire(line: &str) -> Option<Purge> {
        if line == "all" {
            return Some(Purge::Everything);
        }
        let (kind, arg) = line.split_once(' ')?;
        if arg.is_empty() {
            return None;
        }
        let arg = arg.to_string();
        Some(match kind {
            "url" => Purge::Url(arg),
            "prefix" => Purge::Prefix(arg),
            "host" => Purge::Host(arg),
            "tag" => Purge::Tag(arg),
            _ => return None,
        })
    }
}

/// `scheme://Host:port/path?q` → `host/path?q` (the form objects are recorded under).
pub fn normalise_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = strip_port(authority).to_ascii_lowercase();
    let path = if path.is_empty() { "/" } else { path };
    format!("{host}{path}")
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..h.len() + 1]);
    }
    authority.split_once(':').map_or(authority, |(h, _)| h)
}

/// Publishes purges to, and applies purges from, a Redis pub/sub channel shared by all edges.
#[derive(Clone)]
pub struct PurgeFanout {
    client: redis::Client,
    channel: String,
}

impl std::fmt::Debug for PurgeFanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurgeFanout")
            .field("channel", &self.channel)
            .finish()
    }
}

/// Why a purge could not be published.
#[derive(Debug)]
pub struct FanoutError(pub String);

impl std::fmt::Display for FanoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "purge fan-out failed: {}", self.0)
    }
}

impl std::error::Error for FanoutError {}

impl PurgeFanout {
    /// A fan-out on `channel` of the Redis at `url` (no connection is made yet).
    pub fn new(url: &str, channel: &str) -> Result<Self, FanoutError> {
        let client = redis::Client::open(url).map_err(|e| FanoutError(e.to_string()))?;
        Ok(PurgeFanout {
            client,
            channel: channel.to_string(),
        })
    }

    /// Publishes a purge; returns how many edges were subscribed to receive it.
    pub async fn publish(&self, purge: &Purge) -> Result<u64, FanoutError> {
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            self.client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| FanoutError("connect timed out".into()))?
        .map_err(|e| FanoutError(e.to_string()))?;
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(purge.to_wire())
            .query_async(&mut conn)
            .await
            .map_err(|e| FanoutError(e.to_string()))
    }

    /// Subscribes and calls `apply` for every purge received, until the task is dropped;
    /// reconnects after a lost connection (purges published meanwhile are missed: pub/sub has
    /// no history). `ready` is sent once the first subscription is confirmed.
    pub async fn run(
        self,
        apply: impl Fn(Purge) + Send + Sync + 'static,
        ready: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let mut ready = ready;
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(&self.channel).await.is_ok() {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let Ok(text) = msg.get_payload::<String>() else {
                                continue;
                            };
                            match Purge::from_wire(&text) {
                                Some(p) => apply(p),
                                None => tracing::warn!(message = %text, "ignoring a malformed purge message"),
                            }
                        }
                    }
                    tracing::warn!(channel = %self.channel, "purge subscription lost; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "purge subscription cannot connect; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str, tags: &[&str]) -> Origin {
        Origin {
            host: url.split('/').next().unwrap().to_string(),
            url: url.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn each_kind_matches_what_it_names() {
        let o = origin("example.com/static/app.js?v=1", &["assets", "js"]);
        assert!(Purge::Url("https://Example.com:443/static/app.js?v=1".into()).matches(&o));
        assert!(!Purge::Url("https://example.com/static/app.js".into()).matches(&o));
        assert!(Purge::Prefix("http://example.com/static/".into()).matches(&o));
        assert!(Purge::Prefix("example.com/static".into()).matches(&o));
        assert!(!Purge::Prefix("example.com/img/".into()).matches(&o));
        assert!(Purge::Host("EXAMPLE.com".into()).matches(&o));
        assert!(!Purge::Host("other.com".into()).matches(&o));
        assert!(Purge::Tag("JS".into()).matches(&o));
        assert!(!Purge::Tag("css".into()).matches(&o));
        assert!(Purge::Everything.matches(&o));
    }

    #[test]
    fn wire_form_round_trips() {
        for p in [
            Purge::Url("https://a/b c".into()),
            Purge::Prefix("a/".into()),
            Purge::Host("a".into()),
            Purge::Tag("t".into()),
            Purge::Everything,
        ] {
            assert_eq!(Purge::from_wire(&p.to_wire()), Some(p));
        }
        assert_eq!(Purge::from_wire("nuke everything"), None);
        assert_eq!(Purge::from_wire("url "), None);
    }

    #[test]
    fn urls_normalise() {
        assert_eq!(normalise_url("https://Example.COM"), "example.com/");
        assert_eq!(normalise_url("example.com:8080/a?b"), "example.com/a?b");
        assert_eq!(normalise_url("http://[::1]:80/x"), "[::1]/x");
    }
}
