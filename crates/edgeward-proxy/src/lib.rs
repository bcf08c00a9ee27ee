//! edgeward's proxy: connections, the request pipeline, zones and origins.
//!
//! Start at `pipeline` for what happens to a request, `conn` for how a
//! connection is read and written, `upstream` for origins, `server` for the
//! process lifecycle, `tls` for TLS termination.

pub mod access_log;
pub mod challenge;
pub mod conn;
pub mod demo;
pub mod endpoints;
pub mod forward;
pub mod guard;
pub mod pipeline;
pub mod request_id;
pub mod server;
pub mod tls;
pub mod upstream;
pub mod write;

pub use server::{Bound, Server};
