//! The mail keys (`mailto`, `mailfrom`, `smtp = "HOST[:PORT]"`), parsed once at load; and
//! read alone for `tapir mail`, so that a failure mail still leaves when the rest of the
//! config is what failed.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The top-level mail keys of a config whose other keys may be broken.
#[derive(Debug, Default, Deserialize)]
pub struct MailKeys {
    #[serde(default)]
    pub mailto: Vec<String>,
    pub mailfrom: Option<String>,
    pub smtp: Option<Relay>,
}

impl<'de> Deserialize<'de> for Relay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Relay::parse(&s).map_err(|m| serde::de::Error::custom(format!("smtp: {m}")))
    }
}

/// The mail keys of `file`, ignoring every other key.
pub fn mail_keys(file: &Path) -> Result<MailKeys, Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::config(format!("cannot read {}: {e}", file.display())))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| Error::config(format!("{}: {}", file.display(), e.message())))?;
    let pick = |k: &str| table.get(k).cloned().map(|v| (k.to_string(), v));
    let only: toml::Table = ["mailto", "mailfrom", "smtp"]
        .iter()
        .filter_map(|k| pick(k))
        .collect();
    only.try_into()
        .map_err(|e: toml::de::Error| Error::config(format!("{}: {}", file.display(), e.message())))
}

/// An SMTP relay: host (a name, an IPv4 address or a bracketed IPv6 one) and port (default 25).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Relay {
    pub host: String,
    pub port: u16,
}

impl Relay {
    pub fn parse(s: &str) -> Result<Relay, String> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, tail) = rest
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: an IPv6 address needs its closing ]"))?;
            (h, tail.strip_prefix(':'))
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                _ => (s, None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{s:?}: {p:?} is not a port number"))?,
            None => 25,
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(format!(
                "{s:?} is not HOST or HOST:PORT (e.g. \"localhost:25\")"
            ));
        }
        Ok(Relay {
            host: host.to_string(),
            port,
        })
    }

    /// A relay on this host: the connection never leaves it.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Relay;

    #[test]
    fn relays_parse_with_and_without_port_and_refuse_nonsense() {
        let r = |s| Relay::parse(s).map(|r| (r.host, r.port));
        assert_eq!(r("localhost:25"), Ok(("localhost".into(), 25)));
        assert_eq!(r("mail.example.org"), Ok(("mail.example.org".into(), 25)));
        assert_eq!(r("[::1]:2525"), Ok(("::1".into(), 2525)));
        assert_eq!(r("::1"), Ok(("::1".into(), 25)));
        assert!(r("localhost:smtp").unwrap_err().contains("not a port"));
        assert!(r("smtp://x").is_err());
        assert!(Relay::parse("127.0.0.5:25").unwrap().is_loopback());
        assert!(!Relay::parse("mail.example.org").unwrap().is_loopback());
    }
}
