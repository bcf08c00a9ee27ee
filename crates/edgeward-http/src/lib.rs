//! edgeward's strict HTTP/1.1 server codec.
//!
//! `httparse` tokenises; this crate owns everything around it: the line
//! structure and size limits of a request head (`scan`), the RFC 9112 meaning
//! of its fields (`request`), body decoding (`body`) and response bytes
//! (`response`). Every fault is a typed `EdgeError`, so the caller can answer
//! it with a full response. No I/O happens here.

mod body;
mod limits;
mod request;
mod response;
mod scan;
mod target;
mod uri;

pub use body::{BodyDecoder, BodyEvent};
pub use limits::Limits;
pub use request::{
    check_body_policy, check_content_type, check_head_limits, has_underscore, list_items, parse_head,
    sniff_header, trim_ows, BodyFraming, RequestHead, TargetForm, Version,
};
pub use response::{
    end_head, write_chunk_header, write_header, write_header_u64, write_status_line, DateCache,
    ResponseFraming, CHUNK_END, LAST_CHUNK,
};
pub use uri::normalize_path;
