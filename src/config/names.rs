//! Names that reach a client's argv (program, user and hook names; a program DLE's disk):
//! checked when the config is loaded and again by the agent, with the same rules.

use anyhow::{Result, bail};

/// Names of programs, users and hooks: letters, digits, `_`, `.` and `-`, not `-` first.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        bail!("{what} name {name:?}: use letters, digits, _ . and - (not - first)");
    }
    Ok(())
}

/// A diskname that may go into a program's argv: a strict pattern (letters, digits and
/// `_ . @ : + , = -`, plus `/` when the program allows paths), never `-` first (an option),
/// never `.` or `..` as a component.
pub fn check_disk(disk: &str, allow_paths: bool) -> Result<()> {
    if disk.is_empty() || disk.len() > 255 {
        bail!("disk {disk:?}: a program DLE's name has 1 to 255 characters");
    }
    if disk.starts_with('-') {
        bail!("disk {disk:?} looks like a command-line option");
    }
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || "_.@:+,=-".contains(c) || (allow_paths && c == '/');
    if let Some(c) = disk.chars().find(|c| !allowed(*c)) {
        bail!(
            "disk {disk:?}: {c:?} is not allowed in a program DLE's name (letters, digits and \
             _ . @ : + , = -{})",
            if allow_paths { " /" } else { "" }
        );
    }
    if disk.split('/').any(|p| p == "." || p == "..") {
        bail!("disk {disk:?}: . and .. are not allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_are_checked_before_substitution() {
        assert!(check_disk("appdb", false).is_ok());
        assert!(check_disk("my_db-2.x@h:1", false).is_ok());
        for bad in [
            "-c shell", "a;b", "a b", "$(id)", "a/b", "", "x`id`", "a\nb",
        ] {
            assert!(check_disk(bad, false).is_err(), "{bad:?}");
        }
        assert!(check_disk("tank/home", true).is_ok());
        assert!(check_disk("tank/../etc", true).is_err());
        assert!(check_disk("--help", true).is_err());
    }
}
