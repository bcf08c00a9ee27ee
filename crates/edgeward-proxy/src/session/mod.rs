//! A session: one client conversation as the pipeline sees it, whatever the HTTP
//! version. HTTP/1 (`h1`, over edgeward's own codec) and HTTP/2 (`h2`, over the `h2`
//! crate) implement the same [`Session`]; `pipeline::serve` runs every request on one.
//!
//! Owns the contract between the pipeline and the wire: the request body as the origin
//! reads it, driving the pipeline while the body flows and the client is watched, writing
//! one response, and tunnelling after a protocol switch. Which phases run is the
//! pipeline's; the bytes of each version are the implementations'.

pub mod h1;
mod h1_write;
pub mod h2;
mod h2_request;
mod rewind;
mod tunnel;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use edgeward_errors::EdgeError;
use edgeward_http::{Limits, RequestHead};

use crate::request::Protocol;
use crate::request_body::UpstreamBody;
use crate::response::Response;
use crate::tls::Transport;

pub use rewind::Rewind;
pub use tunnel::Tunnelled;

/// How driving the pipeline ended.
pub enum Driven<T> {
    /// The pipeline finished.
    Done(T),
    /// The request body failed (framing, size, timeout): answer this error instead.
    Fault(EdgeError),
    /// The client went away (or reset the stream) before the response head.
    ClientGone,
}

/// What was written: the status, body bytes, and whether the connection may be reused.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Status code sent.
    pub status: u16,
    /// Bytes of body sent.
    pub body_bytes: u64,
    /// Whether the connection can carry another request (HTTP/1).
    pub keep_alive: bool,
}

/// One client conversation, as the pipeline uses it.
pub trait Session {
    /// The client's address.
    fn peer(&self) -> SocketAddr;
    /// The connection the request came on.
    fn transport(&self) -> &Transport;
    /// The protocol of the current request.
    fn protocol(&self) -> Protocol;
    /// The current `Date` value (cached per second).
    fn date(&mut self) -> &[u8];
    /// Prepares the request body for `head` under `limits`; the origin reads the result.
    fn start_body(&mut self, head: &RequestHead, limits: &Limits) -> UpstreamBody;
    /// Body bytes received so far.
    fn body_received(&self) -> u64;
    /// Runs `work` while the session feeds the request body and watches the client.
    fn drive<F: Future>(&mut self, work: F) -> impl Future<Output = Driven<F::Output>>;
    /// Writes `response` (without its body when `head_only`).
    fn respond(&mut self, response: Response, head_only: bool) -> impl Future<Output = io::Result<Written>>;
    /// After a 101: copies bytes both ways between the client and the origin's upgraded
    /// connection until either side closes or nothing moves for `idle`.
    fn tunnel(
        &mut self,
        origin: hyper::upgrade::OnUpgrade,
        idle: Duration,
    ) -> impl Future<Output = Tunnelled>;
}
