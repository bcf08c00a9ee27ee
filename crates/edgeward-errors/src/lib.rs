//! edgeward's error catalog and renderer.
//!
//! Every response the edge generates itself is one [`EdgeError`] variant; the
//! catalog gives it a status, a stable error code (Cloudflare's where the meaning
//! is the same; the table is `CODES.md`), a title, an explanation, advice for
//! clients and its required headers. [`render`] turns it into a complete response
//! in HTML, RFC 9457 problem+json (or the same document as `application/json`),
//! markdown or plain text, chosen by the request's `Accept`. [`render_page`] and
//! [`EdgeError::example`] serve any error's page on purpose.
mod catalog;
mod escape;
mod field;
mod negotiate;
mod reason;
mod render;
mod structured;
mod template;

pub use catalog::*;
pub use negotiate::{negotiate, Format};
pub use reason::reason_phrase;
pub use render::{
    error_page_path, parse_error_page_path, render, render_page, RenderContext, Rendered, ERROR_CODE_HEADER,
    ERROR_PAGE_PREFIX, ERROR_TYPE_HEADER, MITIGATED_HEADER, REQUEST_ID_HEADER,
};
pub use template::{ErrorTemplate, TemplateError, TemplateVars};
