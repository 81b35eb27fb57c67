//! Turns TOML parse errors and spanned values into `file:line: message` config errors.

use crate::error::Error;
use std::path::Path;

/// 1-based line and column of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// A config error at a span of `text` in `file`.
pub fn at(file: &Path, text: &str, span: Option<std::ops::Range<usize>>, msg: &str) -> Error {
    match span {
        Some(s) => {
            let (line, col) = line_col(text, s.start);
            Error::config(format!("{}:{line}:{col}: {msg}", file.display()))
        }
        None => Error::config(format!("{}: {msg}", file.display())),
    }
}

/// Parse `text` (the content of `file`) strictly into `T`.
pub fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().replace('\n', " ");
        at(file, text, e.span(), &msg)
    })
}

/// Read and parse a TOML file, naming it when it cannot be read.
pub fn load<T: serde::de::DeserializeOwned>(file: &Path) -> Result<(T, String), Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::config(format!("{}: cannot read: {e}", file.display())))?;
    Ok((parse(file, &text)?, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("a\nbc\nd", 5), (3, 1));
    }
}
