//! edgeward's proxy: sessions (HTTP/1 and HTTP/2), the request pipeline and its
//! stages, zones and origins.
//!
//! Start at `pipeline` for what happens to a request (top to bottom, one function),
//! `session` for how each HTTP version reads and writes it, `protect` for the
//! protections, `origin`/`upstream` for origins, `server` for the process lifecycle,
//! `tls` for TLS termination.

pub mod access_log;
pub mod cache;
pub mod challenge;
pub mod demo;
pub mod edge;
pub mod endpoints;
pub mod forward;
pub mod origin;
pub mod pipeline;
pub mod protect;
pub mod proxy_protocol;
pub mod real_ip;
pub mod request;
pub mod request_body;
pub mod request_id;
pub mod response;
pub mod route;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod tls;
pub mod traffic;

pub use server::{Bound, Server};
