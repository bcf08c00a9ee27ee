//! XML and SOAP bodies, read with `quick-xml` (which never expands entities).
//!
//! Owns: walking the document — the DOCTYPE (handed whole to the XXE detector), element
//! attribute values, text and CDATA (character references decoded, entity references left
//! as written), comments (as `<!--…-->`, so SSI directives show) and processing
//! instructions (as `<?…?>`, so `<?php` shows) — and falling back to a text walk when the
//! document is malformed. Does not own: what the values contain (`engine`, `xxe`).

use crate::body::text;
use crate::decode::html_entities;
use crate::waf::Scan;
use crate::{Location, WafMatch};
use quick_xml::events::Event;
use quick_xml::Reader;

/// Most events read from one document (bounds work on pathological input).
const MAX_EVENTS: usize = 200_000;

pub(crate) fn inspect(scan: &Scan<'_>, body: &[u8]) -> Option<WafMatch> {
    let mut reader = Reader::from_reader(body);
    let config = reader.config_mut();
    config.trim_text(true);
    config.check_end_names = false;
    config.check_comments = false;
    let value = |raw: &[u8]| {
        let s = String::from_utf8_lossy(raw);
        match html_entities(&s) {
            Some(decoded) => scan
                .value(&decoded, || Location::Body)
                .or_else(|| scan.value(&s, || Location::Body)),
            None => scan.value(&s, || Location::Body),
        }
    };
    let wrapped = |open: &str, raw: &[u8], close: &str| {
        let s = format!("{open}{}{close}", String::from_utf8_lossy(raw));
        scan.value(&s, || Location::Body)
    };
    for _ in 0..MAX_EVENTS {
        let found = match reader.read_event() {
            Ok(Event::Eof) => return None,
            Err(_) => {
                return text(
                    scan,
                    &body[usize::try_from(reader.buffer_position())
                        .unwrap_or(0)
                        .min(body.len())..],
                )
            }
            Ok(Event::DocType(d)) => wrapped("<!DOCTYPE ", &d, ">"),
            Ok(Event::Start(e) | Event::Empty(e)) => e.attributes().with_checks(false).find_map(|a| {
                let a = a.ok()?;
                value(a.key.as_ref()).or_else(|| value(&a.value))
            }),
            Ok(Event::Text(t)) => value(&t),
            Ok(Event::CData(c)) => value(&c),
            Ok(Event::Comment(c)) => wrapped("<!--", &c, "-->"),
            Ok(Event::PI(p)) => wrapped("<?", &p, "?>"),
            Ok(_) => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}
