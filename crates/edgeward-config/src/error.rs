//! The one error type of configuration loading: which file, where in it, and what is wrong.
//!
//! Owns turning byte spans (as toml reports them) into 1-based line and column numbers; it does
//! not decide what counts as a fault.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A configuration fault, located in its file when the position is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file the fault is in.
    pub file: PathBuf,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending value, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the key or value at fault.
    pub message: String,
}

impl ConfigError {
    /// A fault with no position in the file (unreadable file, missing section, …).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A fault at byte offset `span.start` of `text`.
    pub fn at(file: &Path, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column) = line_column(text, span.start);
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// Converts toml's syntax / type error, keeping its position but not its source excerpt.
    pub(crate) fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
        // toml's messages may span lines ("invalid table header\nexpected `.`, `]`"), and
        // serde names integer types the way Rust does; one line in the user's terms reads better.
        let message = err
            .message()
            .trim_end()
            .replace('\n', ": ")
            .replace("expected u64", "expected a non-negative integer");
        match err.span() {
            Some(span) => ConfigError::at(file, text, span, message),
            None => ConfigError::whole_file(file, message),
        }
    }
}

/// 1-based line and column (counted in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, "{line}:")?;
            if let Some(column) = self.column {
                write!(f, "{column}:")?;
            }
        }
        write!(f, " {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(line_column(text, 12), (2, 6));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn display_omits_unknown_position() {
        let file = Path::new("edgeward.toml");
        let located = ConfigError::at(file, "x\ny = 2", 2..3, "bad y");
        assert_eq!(located.to_string(), "edgeward.toml:2:1: bad y");
        let unlocated = ConfigError::whole_file(file, "no zones");
        assert_eq!(unlocated.to_string(), "edgeward.toml: no zones");
    }
}
