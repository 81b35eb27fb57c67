//! The recover shell's words: its command table, how a line splits into words, near-miss
//! suggestions, and how dates, entries and chains are printed.

use super::browse::Item;
use crate::catalog::DumpRecord;
use anyhow::{Result, bail};

pub const COMMANDS: &[(&str, &str)] = &[
    ("listhost", "list the hosts the catalog has dumps of"),
    ("sethost HOST", "choose a host"),
    ("listdisk [GLOB]", "list the host's disks (DLEs)"),
    ("setdisk DISK", "choose a disk; browsing starts at its top"),
    (
        "setdate DATE",
        "browse the state as of DATE (YYYY-MM-DD[ HH:MM:SS])",
    ),
    (
        "history",
        "the disk's dumps; * marks those the current date uses",
    ),
    ("ls [PATH]", "list a directory as of the chosen date"),
    ("cd PATH", "change directory in the dump"),
    ("pwd", "print the current directory in the dump"),
    (
        "add PATH|GLOB...",
        "add files or directories to the extraction list",
    ),
    (
        "delete PATH|GLOB...",
        "remove them from the extraction list",
    ),
    ("list", "show the extraction list and the tapes it needs"),
    ("clear", "empty the extraction list"),
    ("lcd DIR", "change the local directory extract writes into"),
    ("lpwd", "print the local directory"),
    (
        "extract",
        "restore the extraction list into the local directory",
    ),
    ("help", "this list"),
    ("quit", "leave (also exit, or end of input)"),
];

pub fn help(out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    for (u, what) in COMMANDS {
        writeln!(out, "  {u:<22} {what}").map_err(crate::out::stdout_error)?;
    }
    Ok(())
}

pub fn print_chain<'r>(
    out: &mut dyn std::io::Write,
    chain: impl Iterator<Item = &'r DumpRecord>,
) -> anyhow::Result<()> {
    for r in chain {
        writeln!(
            out,
            "  {} level {} on tape {} file {} ({})",
            show_datestamp(&r.datestamp),
            r.level,
            r.label,
            r.file_number,
            r.file_name
        )
        .map_err(crate::out::stdout_error)?;
    }
    Ok(())
}

/// `20261120030000` → `2026-11-20 03:00:00` (a widened bound as its last instant).
pub use crate::clock::show_datestamp_secs as show_datestamp;

pub fn show_item(i: &Item) -> String {
    let date = i
        .datestamp
        .as_deref()
        .map_or("(no content)".into(), show_datestamp);
    let n = &i.node;
    let tail = match (n.is_dir(), &n.l) {
        (true, _) => "/".to_string(),
        (false, Some(l)) if n.t == "2" => format!(" -> {l}"),
        (false, Some(l)) if n.t == "1" => format!(" (link to {l})"),
        _ => String::new(),
    };
    format!("{date}  {}{tail}", n.n)
}

/// ", did you mean X?" for the closest candidate, or nothing when none is close.
pub fn did_you_mean<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> String {
    let trimmed = |s: &str| s.trim_end_matches('/').to_lowercase();
    let w = trimmed(word);
    let best = candidates
        .map(|c| (strsim::osa_distance(&w, &trimmed(c)), c))
        .filter(|(d, _)| *d <= (w.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!("; did you mean {c}?"),
        None => String::new(),
    }
}

/// Words separated by blanks; double or single quotes keep blanks, `\` escapes one character.
pub fn split_words(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '#') if cur.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(cur.take()),
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.get_or_insert_default();
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') if quote != Some('\'') => {
                cur.get_or_insert_default().extend(chars.next());
            }
            (_, c) => cur.get_or_insert_default().push(c),
        }
    }
    if quote.is_some() {
        bail!(crate::error::Error::config("unbalanced quote"));
    }
    words.extend(cur);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_comments() {
        let w = |s| split_words(s).unwrap();
        assert_eq!(
            w("add  a 'b c' \"d e\" f\\ g"),
            ["add", "a", "b c", "d e", "f g"]
        );
        assert_eq!(w("  # a comment"), Vec::<String>::new());
        assert_eq!(w("cd x#y"), ["cd", "x#y"]);
        assert!(split_words("add 'open").is_err());
    }

    #[test]
    fn near_misses_are_suggested() {
        let disks = ["/etc", "/home", "/var/www"];
        assert_eq!(
            did_you_mean("/etc/", disks.into_iter()),
            "; did you mean /etc?"
        );
        assert_eq!(
            did_you_mean("/hom", disks.into_iter()),
            "; did you mean /home?"
        );
        assert_eq!(did_you_mean("/srv", disks.into_iter()), "");
        assert_eq!(
            did_you_mean("lsit", ["list", "ls"].into_iter()),
            "; did you mean list?"
        );
    }
}
