//! A zone's custom error pages: which template serves which status, and loading them from disk.
//!
//! Owns the `error_pages` keys (`"404"`, `"4xx"`, `"5xx"`) and reading/compiling the template
//! files; rendering a page belongs to `edgeward-errors`.

use std::collections::BTreeMap;
use std::path::Path;

use edgeward_errors::ErrorTemplate;

/// Compiled error-page templates of one zone.
#[derive(Debug, Clone, Default)]
pub struct ErrorPages {
    by_status: BTreeMap<u16, ErrorTemplate>,
    /// Index 0 = 4xx, 1 = 5xx.
    by_class: [Option<ErrorTemplate>; 2],
}

/// What an `error_pages` key selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKey {
    /// One status, 400–599.
    Status(u16),
    /// A whole class: 4 or 5.
    Class(u16),
}

impl PageKey {
    /// Parses `"404"`, `"4xx"` or `"5xx"`; anything else is an error naming the accepted keys.
    pub(crate) fn parse(key: &str) -> Result<PageKey, String> {
        match key {
            "4xx" => return Ok(PageKey::Class(4)),
            "5xx" => return Ok(PageKey::Class(5)),
            _ => {}
        }
        match key.parse::<u16>() {
            Ok(status) if key.len() == 3 && (400..=599).contains(&status) => Ok(PageKey::Status(status)),
            _ => Err(format!(
                "invalid error_pages key `{key}`: expected a 4xx or 5xx status such as \"404\", \
                 or \"4xx\" / \"5xx\""
            )),
        }
    }
}

impl ErrorPages {
    /// The template for `status`: its exact page first, then its class page.
    pub fn for_status(&self, status: u16) -> Option<&ErrorTemplate> {
        if let Some(page) = self.by_status.get(&status) {
            return Some(page);
        }
        match status / 100 {
            4 => self.by_class[0].as_ref(),
            5 => self.by_class[1].as_ref(),
            _ => None,
        }
    }

    /// Whether no page is configured.
    pub fn is_empty(&self) -> bool {
        self.by_status.is_empty() && self.by_class.iter().all(Option::is_none)
    }

    pub(crate) fn insert(&mut self, key: PageKey, template: ErrorTemplate) {
        match key {
            PageKey::Status(status) => {
                self.by_status.insert(status, template);
            }
            PageKey::Class(class) => self.by_class[usize::from(class == 5)] = Some(template),
        }
    }
}

/// Reads `relative` (resolved against `base_dir`) and compiles it as a template.
pub(crate) fn load_page(base_dir: &Path, relative: &str) -> Result<ErrorTemplate, String> {
    let path = base_dir.join(relative);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read error page `{relative}` ({}): {e}", path.display()))?;
    ErrorTemplate::parse(&text).map_err(|e| {
        format!(
            "error page `{relative}` ({}): template error at byte {}: {}",
            path.display(),
            e.offset,
            e.message
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_4xx_5xx_statuses_or_classes() {
        assert_eq!(PageKey::parse("404"), Ok(PageKey::Status(404)));
        assert_eq!(PageKey::parse("599"), Ok(PageKey::Status(599)));
        assert_eq!(PageKey::parse("4xx"), Ok(PageKey::Class(4)));
        assert_eq!(PageKey::parse("5xx"), Ok(PageKey::Class(5)));
        for bad in ["200", "399", "600", "0404", "+404", "3xx", "4XX", "", "404 "] {
            let err = PageKey::parse(bad).expect_err(bad);
            assert!(err.contains("4xx or 5xx status"), "{err}");
        }
    }

    #[test]
    fn exact_status_beats_class() {
        let page = |s: &str| ErrorTemplate::parse(s).unwrap();
        let mut pages = ErrorPages::default();
        assert!(pages.is_empty());
        pages.insert(PageKey::Status(404), page("not found"));
        pages.insert(PageKey::Class(4), page("client"));
        pages.insert(PageKey::Class(5), page("server"));
        assert!(!pages.is_empty());
        assert_eq!(pages.for_status(404), Some(&page("not found")));
        assert_eq!(pages.for_status(403), Some(&page("client")));
        assert_eq!(pages.for_status(502), Some(&page("server")));
        assert_eq!(pages.for_status(302), None);

        let mut only_404 = ErrorPages::default();
        only_404.insert(PageKey::Status(404), page("nf"));
        assert_eq!(only_404.for_status(404), Some(&page("nf")));
        assert_eq!(only_404.for_status(403), None);
        assert_eq!(only_404.for_status(500), None);
    }
}
