//! The client's own rules (`/etc/tapir/agent.toml`): which roots the server may read, which
//! named hooks it may ask for. The agent is the security boundary: every request is checked
//! here, every refusal is logged (stderr, syslog, and the optional log file).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/tapir/agent.toml";

/// A pre/post command pair, run with a cleared environment, no shell.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    #[serde(default)]
    pub pre: Vec<String>,
    #[serde(default)]
    pub post: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Roots the server may dump; empty: any directory.
    pub allow: Vec<PathBuf>,
    /// Also log refusals here.
    pub log: Option<PathBuf>,
    pub hooks: BTreeMap<String, Hook>,
    /// Program DLEs: commands whose stdout is the dump (`[programs.NAME]`).
    pub programs: BTreeMap<String, super::program::Program>,
}

impl Policy {
    /// Load the client config: an explicit path must exist; the default path is optional.
    pub fn load(explicit: Option<&Path>) -> Result<Policy> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let p: Policy = crate::config::toml_err::parse(&path, &text)?;
                for (name, prog) in &p.programs {
                    prog.validate(name)
                        .with_context(|| format!("{}", path.display()))?;
                }
                Ok(p)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Policy::default())
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Log a refused request everywhere an admin might look.
    pub fn refuse(&self, what: &str) {
        let line = format!("tapir agent: REFUSED: {what}");
        eprintln!("{line}");
        syslog(&line);
        if let Some(p) = &self.log
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
        {
            use std::io::Write;
            let _ = writeln!(f, "{} {line}", chrono::Local::now().to_rfc3339());
        }
    }

    /// A path the server may read: absolute, normalized, and (resolved) under an allowed root.
    pub fn check_path(&self, path: &str) -> Result<PathBuf> {
        check_text("path", path)?;
        let p = Path::new(path);
        if !p.is_absolute()
            || p.components()
                .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
        {
            bail!("{path:?} is not a normalized absolute path");
        }
        let real = p
            .canonicalize()
            .with_context(|| format!("cannot dump {path}"))?;
        if self.allow.is_empty() {
            return Ok(real);
        }
        for root in &self.allow {
            if let Ok(r) = root.canonicalize()
                && real.starts_with(&r)
            {
                return Ok(real);
            }
        }
        let roots: Vec<String> = self.allow.iter().map(|r| r.display().to_string()).collect();
        bail!("{path} is outside the allowed roots ({})", roots.join(", "))
    }

    /// The program a request names, defined here, with a disk it may be run for.
    pub fn program(&self, name: &str, disk: &str) -> Result<&super::program::Program> {
        let Some(p) = self.programs.get(name) else {
            bail!("program {name:?} is not defined in this client's agent.toml");
        };
        super::program::check_disk(disk, p.allow_paths)?;
        Ok(p)
    }

    /// The hooks named in a request, each defined here.
    pub fn hooks(&self, names: &[String]) -> Result<Vec<(String, Hook)>> {
        names
            .iter()
            .map(|n| match self.hooks.get(n) {
                Some(h) => Ok((n.clone(), h.clone())),
                None => bail!("hook {n:?} is not defined in this client's agent.toml"),
            })
            .collect()
    }
}

/// Refuse text that could only be an attempt at a command line or a shell: a leading `-`,
/// control characters, `$(`, backquotes.
pub fn check_text(field: &str, s: &str) -> Result<()> {
    if s.starts_with('-') {
        bail!("{field} {s:?} looks like a command-line option");
    }
    if s.chars().any(|c| c.is_control()) || s.contains("$(") || s.contains('`') {
        bail!("{field} {s:?} contains control characters or shell syntax");
    }
    Ok(())
}

fn syslog(line: &str) {
    crate::sys::syslog("tapir-agent", line);
}

/// Run one hook command: no shell, environment cleared but for a fixed PATH.
pub fn run_hook(name: &str, argv: &[String]) -> Result<()> {
    let Some((cmd, args)) = argv.split_first() else {
        return Ok(());
    };
    let out = std::process::Command::new(cmd)
        .args(args)
        .env_clear()
        .env("PATH", super::program::PATH)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("hook {name}: cannot run {cmd}"))?;
    if !out.status.success() {
        bail!(
            "hook {name}: {cmd} {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_normalized_and_allowed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("ok/sub")).unwrap();
        std::fs::create_dir_all(d.path().join("no")).unwrap();
        std::os::unix::fs::symlink(d.path().join("no"), d.path().join("ok/escape")).unwrap();
        let p = Policy {
            allow: vec![d.path().join("ok")],
            ..Policy::default()
        };
        let s = |x: &str| d.path().join(x).display().to_string();
        assert!(p.check_path(&s("ok/sub")).is_ok());
        assert!(
            p.check_path(&s("no"))
                .unwrap_err()
                .to_string()
                .contains("outside the allowed roots")
        );
        assert!(
            p.check_path(&s("ok/escape")).is_err(),
            "a symlink out of the root is resolved and refused"
        );
        assert!(
            p.check_path(&format!("{}/../no", s("ok")))
                .unwrap_err()
                .to_string()
                .contains("normalized")
        );
        assert!(p.check_path("relative").is_err());
        assert!(
            p.check_path("--to-command=sh")
                .unwrap_err()
                .to_string()
                .contains("option")
        );
    }

    #[test]
    fn shell_text_is_refused() {
        assert!(check_text("exclude", "*.tmp").is_ok());
        assert!(check_text("exclude", "$(rm -rf /)").is_err());
        assert!(check_text("exclude", "`id`").is_err());
        assert!(check_text("exclude", "--exclude-from=/etc/shadow").is_err());
        assert!(check_text("exclude", "a\nb").is_err());
    }
}
