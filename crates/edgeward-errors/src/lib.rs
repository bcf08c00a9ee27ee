//! edgeward's error catalog and renderer.
//!
//! Every response the edge generates itself is one [`EdgeError`] variant; the
//! catalog gives it a status, a stable error code, a title, an explanation and
//! its required headers. [`render`] turns it into a complete response in HTML,
//! RFC 9457 problem+json or plain text, chosen by the request's `Accept`.
mod catalog;
mod escape;
mod field;
mod negotiate;
mod reason;
mod render;
mod template;

pub use catalog::*;
pub use negotiate::{negotiate, Format};
pub use reason::reason_phrase;
pub use render::{render, RenderContext, Rendered, REQUEST_ID_HEADER};
pub use template::{ErrorTemplate, TemplateError, TemplateVars};
