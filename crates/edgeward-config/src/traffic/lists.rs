//! Bulk redirect list files (`[[zones.redirect_lists]] file = "moved.csv"`): CSV
//! `source,target[,status[,preserve_query]]` or TOML `[[redirects]]` tables, read when the
//! config is loaded (so a reload re-reads them).
//!
//! Owns both file formats and their faults, reported as `list-file:line:column` plus the config
//! line that names the list. It does not own matching (`edgeward_rules::BulkRedirects`).
//!
//! CSV: one entry per line; blank lines and lines starting with `#` are skipped, as is a first
//! line starting `source,`. Fields may be quoted (`"a,b"`, `""` for a quote). `status` is 301
//! (default), 302, 303, 307 or 308; `preserve_query` is `true`/`false` (default false).

use std::path::{Path, PathBuf};

use edgeward_rules::{BulkEntry, BulkError, BulkRedirects, RedirectStatus};
use serde::Deserialize;
use toml::Spanned;

use crate::error::line_column;
use crate::validate::Source;
use crate::ConfigError;

/// `[[zones.redirect_lists]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedirectList {
    pub file: Spanned<String>,
    /// `csv` or `toml`; by default, the file's extension.
    pub format: Option<Spanned<String>>,
}

/// A TOML list file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListFile {
    #[serde(default)]
    redirects: Vec<RawListEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListEntry {
    source: Spanned<String>,
    target: Spanned<String>,
    status: Option<Spanned<u64>>,
    #[serde(default)]
    preserve_query: bool,
}

/// Where a list's faults are reported.
struct ListFile<'a> {
    path: PathBuf,
    text: &'a str,
    /// `edgeward.toml:12`, the line naming the list.
    named_at: String,
}

impl ListFile<'_> {
    fn fault(&self, line: usize, column: usize, message: impl std::fmt::Display) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            line: Some(line),
            column: Some(column),
            message: format!("{message} (redirect list named at {})", self.named_at),
        }
    }

    fn fault_at(&self, offset: usize, message: impl std::fmt::Display) -> ConfigError {
        let (line, column) = line_column(self.text, offset);
        self.fault(line, column, message)
    }
}

impl Source<'_> {
    /// Reads and compiles one bulk redirect list.
    pub(crate) fn redirect_list(&self, raw: &RawRedirectList) -> Result<BulkRedirects, ConfigError> {
        let name = raw.file.get_ref();
        let path = self.base_dir.join(name);
        let format = match &raw.format {
            Some(f) => f.get_ref().clone(),
            None => Path::new(name)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase(),
        };
        if !matches!(format.as_str(), "csv" | "toml") {
            let span = raw.format.as_ref().map_or(raw.file.span(), Spanned::span);
            let msg = format!("redirect list format `{format}`: expected csv or toml (set `format` or name the file .csv/.toml)");
            return Err(self.fault(span, msg));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let msg = format!("cannot read redirect list `{name}` ({}): {e}", path.display());
            self.fault(raw.file.span(), msg)
        })?;
        let (line, _) = line_column(self.text, raw.file.span().start);
        let file = ListFile {
            path,
            text: &text,
            named_at: format!("{}:{line}", self.file.display()),
        };
        if format == "csv" {
            parse_csv(&file)
        } else {
            parse_toml(&file)
        }
    }
}

fn parse_csv(file: &ListFile<'_>) -> Result<BulkRedirects, ConfigError> {
    let mut list = BulkRedirects::with_capacity(file.text.lines().count());
    let mut first = true;
    for (i, raw_line) in file.text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw_line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if std::mem::take(&mut first) && line.trim_start().starts_with("source,") {
            continue;
        }
        let fields = split_csv(line).map_err(|(col, msg)| file.fault(line_no, col, msg))?;
        if !(2..=4).contains(&fields.len()) {
            let msg = format!(
                "expected source,target[,status[,preserve_query]], found {} field(s)",
                fields.len()
            );
            return Err(file.fault(line_no, 1, msg));
        }
        let status = match fields.get(2).filter(|f| !f.text.trim().is_empty()) {
            None => RedirectStatus::MovedPermanently,
            Some(f) => f
                .text
                .trim()
                .parse::<u16>()
                .ok()
                .and_then(RedirectStatus::from_code)
                .ok_or_else(|| {
                    let msg = format!("status `{}` is not one of 301, 302, 303, 307, 308", f.text.trim());
                    file.fault(line_no, f.column, msg)
                })?,
        };
        let preserve_query = match fields.get(3).map(|f| (f.text.trim(), f.column)) {
            None | Some(("", _)) | Some(("false", _)) => false,
            Some(("true", _)) => true,
            Some((other, col)) => {
                let msg = format!("preserve_query `{other}`: expected true or false");
                return Err(file.fault(line_no, col, msg));
            }
        };
        let entry = BulkEntry {
            target: fields[1].text.trim().into(),
            status,
            preserve_query,
            line: u32::try_from(line_no).unwrap_or(u32::MAX),
        };
        list.insert(fields[0].text.trim(), entry).map_err(|e| {
            let col = if matches!(e, BulkError::Target(_)) {
                fields[1].column
            } else {
                fields[0].column
            };
            file.fault(line_no, col, e)
        })?;
    }
    Ok(list)
}

/// A CSV field and the 1-based column (in characters) where it starts.
struct Field {
    text: String,
    column: usize,
}

/// Splits one CSV line (RFC 4180 quoting); a fault is `(column, message)`.
fn split_csv(line: &str) -> Result<Vec<Field>, (usize, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let column = i + 1;
        let mut text = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err((column, "unclosed quote in field".into())),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        text.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        text.push(c);
                        i += 1;
                    }
                }
            }
            if !matches!(chars.get(i), None | Some(',')) {
                return Err((i + 1, "expected `,` after a quoted field".into()));
            }
        } else {
            while let Some(&c) = chars.get(i).filter(|&&c| c != ',') {
                if c == '"' {
                    return Err((
                        i + 1,
                        "a quote inside an unquoted field: quote the whole field".into(),
                    ));
                }
                text.push(c);
                i += 1;
            }
        }
        fields.push(Field { text, column });
        if chars.get(i) == Some(&',') {
            i += 1;
        } else {
            return Ok(fields);
        }
    }
}

fn parse_toml(file: &ListFile<'_>) -> Result<BulkRedirects, ConfigError> {
    let raw: RawListFile = toml::from_str(file.text).map_err(|e| {
        let message = e.message().trim_end().replace('\n', ": ");
        file.fault_at(e.span().map_or(0, |s| s.start), message)
    })?;
    let mut list = BulkRedirects::with_capacity(raw.redirects.len());
    for r in raw.redirects {
        let status = match &r.status {
            None => RedirectStatus::MovedPermanently,
            Some(s) => u16::try_from(*s.get_ref())
                .ok()
                .and_then(RedirectStatus::from_code)
                .ok_or_else(|| {
                    let msg = format!("status {} is not one of 301, 302, 303, 307, 308", s.get_ref());
                    file.fault_at(s.span().start, msg)
                })?,
        };
        let (line, _) = line_column(file.text, r.source.span().start);
        let entry = BulkEntry {
            target: r.target.get_ref().as_str().into(),
            status,
            preserve_query: r.preserve_query,
            line: u32::try_from(line).unwrap_or(u32::MAX),
        };
        list.insert(r.source.get_ref(), entry).map_err(|e| {
            let at = if matches!(e, BulkError::Target(_)) {
                r.target.span()
            } else {
                r.source.span()
            };
            file.fault_at(at.start, e)
        })?;
    }
    Ok(list)
}
