//! `tapir.toml`, dumptypes and disklist → one typed, validated [`Config`].
//! Unknown keys, unknown dumptypes, duplicate DLEs and bad regexes are errors naming `file:line`.

pub mod amanda;
pub mod disklist;
pub mod drill;
pub mod dumptype;
pub mod groups;
pub mod import;
mod mail;
pub mod names;
pub mod reading;
#[cfg(test)]
mod tests;
pub mod toml_err;
pub mod vault;

use crate::error::Error;
pub use crate::keys::Encryption;
pub use crate::signing::Signing;
pub use crate::vtape::Changer;
use crate::vtape::Root;
use disklist::Dle;
use dumptype::Dumptype;
pub use mail::{MailKeys, Relay, mail_keys};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "d_org")]
    org: String,
    #[serde(default = "d_7")]
    dumpcycle: Spanned<u32>,
    #[serde(default = "d_7")]
    runspercycle: Spanned<u32>,
    #[serde(default = "d_10")]
    tapecycle: Spanned<u32>,
    #[serde(default = "d_1")]
    runtapes: Spanned<u32>,
    #[serde(default = "d_4")]
    inparallel: Spanned<u32>,
    #[serde(default = "d_1")]
    maxdumps: Spanned<u32>,
    #[serde(default = "d_disklist")]
    disklist: PathBuf,
    #[serde(default = "d_dumptypes")]
    dumptypes: PathBuf,
    #[serde(default = "d_catalog")]
    catalog: PathBuf,
    #[serde(default)]
    mailto: Vec<String>,
    #[serde(default)]
    mailfrom: Option<String>,
    #[serde(default)]
    smtp: Option<Spanned<String>>,
    #[serde(default = "d_bumpsize")]
    bumpsize: Spanned<String>,
    #[serde(default = "d_bumpmult")]
    bumpmult: f64,
    #[serde(default = "d_bumpdays")]
    bumpdays: u32,
    #[serde(default)]
    min_history: Option<Spanned<String>>,
    #[serde(default)]
    verify_max_age: Option<Spanned<String>>,
    #[serde(default)]
    changer: RawChanger,
    #[serde(default)]
    encryption: RawEncryption,
    #[serde(default)]
    ssh: Ssh,
    #[serde(default)]
    mirror: Mirror,
    #[serde(default)]
    vault: BTreeMap<String, vault::RawVault>,
    #[serde(default)]
    drill: drill::RawDrill,
    #[serde(default)]
    holding: Option<RawHolding>,
    #[serde(default)]
    signing: RawSigning,
    #[serde(default)]
    groups: BTreeMap<String, groups::Group>,
    #[serde(default)]
    s3: crate::s3::Settings,
    #[serde(default)]
    hosts: BTreeMap<String, Host>,
}

fn d_org() -> String {
    "DailySet1".into()
}
fn d_disklist() -> PathBuf {
    "disklist".into()
}
fn d_dumptypes() -> PathBuf {
    "dumptypes".into()
}
fn d_catalog() -> PathBuf {
    "catalog".into()
}
fn d_bumpsize() -> Spanned<String> {
    Spanned::new(0..0, "10M".into())
}
fn d_bumpmult() -> f64 {
    1.5
}
fn d_bumpdays() -> u32 {
    2
}
fn d_1() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn d_4() -> Spanned<u32> {
    Spanned::new(0..0, 4)
}
fn d_7() -> Spanned<u32> {
    Spanned::new(0..0, 7)
}
fn d_10() -> Spanned<u32> {
    Spanned::new(0..0, 10)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawChanger {
    root: PathBuf,
    slots: Spanned<u32>,
    labelstr: Spanned<String>,
    autolabel: Option<Spanned<String>>,
    tape_size: Spanned<String>,
}

impl Default for RawChanger {
    fn default() -> Self {
        RawChanger {
            root: "vtape".into(),
            slots: d_10(),
            labelstr: Spanned::new(0..0, "^daily-[0-9]+$".into()),
            autolabel: None,
            tape_size: Spanned::new(0..0, "20G".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEncryption {
    recipients: Vec<Spanned<String>>,
    recipients_file: Option<PathBuf>,
    /// Example setups only: create this age identity (and the recipients file) on first use.
    generate_identity: Option<PathBuf>,
}

impl Default for RawEncryption {
    fn default() -> Self {
        RawEncryption {
            recipients: Vec::new(),
            recipients_file: Some("keys/recipients.txt".into()),
            generate_identity: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Ssh {
    pub user: String,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    /// TCP connect and SSH handshake limit.
    pub connect_timeout: String,
    /// `connect_timeout` parsed, once, when the config is loaded.
    #[serde(skip)]
    pub connect: std::time::Duration,
    /// `openssh` (the system `ssh` client, default) or `libssh2` (built in, for servers
    /// without an ssh binary).
    pub client: SshClient,
    /// The OpenSSH client to run (default `ssh`, found on PATH).
    pub command: PathBuf,
    /// An ssh_config file for OpenSSH (`ssh -F`); default: the usual ~/.ssh/config and
    /// /etc/ssh/ssh_config.
    pub config: Option<PathBuf>,
}

/// Which SSH implementation reaches the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SshClient {
    Openssh,
    Libssh2,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            user: "tapir".into(),
            identity: "keys/id_ed25519".into(),
            known_hosts: "keys/known_hosts".into(),
            connect_timeout: "30s".into(),
            connect: std::time::Duration::from_secs(30),
            client: SshClient::Openssh,
            command: "ssh".into(),
            config: None,
        }
    }
}

impl Ssh {
    pub fn connect_timeout(&self) -> std::time::Duration {
        self.connect
    }
}

/// How to reach one client (`[hosts.NAME]`); every key optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Host {
    /// Address to connect to (default: the host name itself).
    pub address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// Dumps at once from this host (default: `maxdumps`).
    pub maxdumps: Option<u32>,
    /// Reach this host through another (a bastion): its name, with its own `[hosts.NAME]`
    /// block if it needs one. OpenSSH only.
    pub proxy_jump: Option<String>,
}

/// Where and as whom to reach a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The host to jump through, when `proxy_jump` is set.
    pub jump: Option<Box<Target>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Mirror {
    /// Where `tapir mirror` copies to, in turn: a directory (an NFS mount) or
    /// `s3://BUCKET/PREFIX`, or a list of them.
    #[serde(deserialize_with = "one_or_many")]
    pub to: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHolding {
    dir: PathBuf,
    #[serde(default = "d_holding_size")]
    size: Spanned<String>,
}

fn d_holding_size() -> Spanned<String> {
    Spanned::new(0..0, "0".into())
}

/// The holding area: finished dump files (compressed, encrypted, signed) wait here when no
/// tape can be written, until `tapir flush` (or the next dump) puts them on tape.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Holding {
    pub dir: PathBuf,
    /// Bytes it may hold (0: as much as its file system has room for).
    #[serde(rename = "size_bytes")]
    pub size: u64,
}

/// A string, or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSigning {
    key: Option<PathBuf>,
    public_key: Option<Spanned<String>>,
    previous: Vec<RawPrevious>,
}

/// `[signing] previous` entries: a path, or a table with the key's window.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPrevious {
    Path(PathBuf),
    Windowed(RawWindowed),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindowed {
    key: PathBuf,
    valid_after: Option<String>,
    valid_before: Option<String>,
}

/// The effective configuration: every path absolute, every value checked.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Config {
    pub file: PathBuf,
    pub org: String,
    pub dumpcycle: u32,
    pub runspercycle: u32,
    pub tapecycle: u32,
    pub runtapes: u32,
    pub inparallel: u32,
    pub maxdumps: u32,
    pub disklist_file: PathBuf,
    pub dumptypes_dir: PathBuf,
    pub catalog: PathBuf,
    pub mailto: Vec<String>,
    /// From of the report mail and its envelope sender (default `tapir@FQDN`).
    pub mailfrom: Option<String>,
    /// The SMTP relay the mail is submitted to; None: `sendmail -t`.
    pub smtp: Option<Relay>,
    /// Incremental bumping: one level up when it saves bumpsize * bumpmult^(level-1)
    /// bytes and the DLE spent bumpdays at its level.
    pub bumpsize: u64,
    pub bumpmult: f64,
    pub bumpdays: u32,
    /// How far back every DLE must stay restorable (seconds; `min_history = "14d"`):
    /// check-rpo warns when a DLE's oldest full is younger.
    pub min_history: Option<u64>,
    /// Every tape file must have been verified this recently (seconds;
    /// `verify_max_age = "14d"`): check-rpo warns about the share that was not.
    pub verify_max_age: Option<u64>,
    pub changer: Changer,
    pub encryption: Encryption,
    pub ssh: Ssh,
    pub mirror: Mirror,
    /// Long-term copies with their own retention (`[vault.NAME]`), by name.
    #[serde(rename = "vault")]
    pub vaults: BTreeMap<String, vault::Vault>,
    /// Restore drills (`[drill]`): what a drill host reads without flags.
    pub drill: drill::Drill,
    /// Where dumps wait when no tape can be written (`[holding]`); None: they fail.
    pub holding: Option<Holding>,
    /// How to reach S3 mirrors and readers' `--from s3://`.
    pub s3: crate::s3::Settings,
    pub signing: Signing,
    pub hosts: BTreeMap<String, Host>,
    pub dumptypes: BTreeMap<String, Dumptype>,
    pub disklist: Vec<Dle>,
    /// Hook groups: hosts whose hooks run together around their dumps.
    pub groups: BTreeMap<String, groups::Group>,
}

impl Config {
    /// The dumptype of a DLE (always present: the disklist was checked against them).
    pub fn dumptype(&self, dle: &Dle) -> &Dumptype {
        &self.dumptypes[&dle.dumptype]
    }

    /// How to reach `host` over SSH.
    pub fn target(&self, host: &str) -> Target {
        // a jump host's own proxy_jump is not followed (checked at load: no chains)
        let jump = self
            .hosts
            .get(host)
            .and_then(|h| h.proxy_jump.as_deref())
            .map(|j| Box::new(self.target_direct(j)));
        Target {
            jump,
            ..self.target_direct(host)
        }
    }

    fn target_direct(&self, host: &str) -> Target {
        let h = self.hosts.get(host).cloned().unwrap_or_default();
        Target {
            name: host.to_string(),
            address: h.address.unwrap_or_else(|| host.to_string()),
            port: h.port.unwrap_or(22),
            user: h.user.unwrap_or_else(|| self.ssh.user.clone()),
            jump: None,
        }
    }

    /// Dumps at once from `host`.
    pub fn maxdumps(&self, host: &str) -> u32 {
        self.hosts
            .get(host)
            .and_then(|h| h.maxdumps)
            .unwrap_or(self.maxdumps)
            .max(1)
    }

    /// Find a DLE by host and disk.
    /// Where a dump's file is: its tape slot, the holding area while it waits there, or its
    /// place in a vault (a record of a vault's catalog).
    pub fn dump_path(&self, r: &crate::catalog::DumpRecord) -> crate::vtape::TapePath {
        match (&self.holding, r.is_held(), &r.path) {
            (Some(h), true, _) => crate::vtape::TapePath::Local(h.dir.join(&r.file_name)),
            (_, _, Some(p)) => self.changer.root.path().join(p),
            _ => self.changer.root.file(r.slot, &r.file_name),
        }
    }

    pub fn dle(&self, host: &str, disk: &str) -> Option<&Dle> {
        self.disklist
            .iter()
            .find(|d| d.host == host && d.disk == disk)
    }
}

/// Which config file to read: `--config`, `$TAPIR_CONFIG`, `./tapir.toml`, `/etc/tapir/tapir.toml`.
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("TAPIR_CONFIG").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let local = PathBuf::from("tapir.toml");
    if local.exists() {
        local
    } else {
        "/etc/tapir/tapir.toml".into()
    }
}

/// Load and validate everything the config names.
pub fn load(file: &Path) -> Result<Config, Error> {
    let file =
        std::path::absolute(file).map_err(|e| Error::config(format!("{}: {e}", file.display())))?;
    let (raw, text): (RawConfig, String) = toml_err::load(&file)?;
    build(file, raw, text, true)
}

pub use reading::{for_reading, for_reading_slots};

fn build(file: PathBuf, raw: RawConfig, text: String, full: bool) -> Result<Config, Error> {
    let base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let abs = |p: &Path| base.join(p);
    check_numbers(&file, &text, &raw, *raw.changer.slots.get_ref())?;
    let changer = changer(&file, &text, raw.changer, &abs)?;
    let dumptypes_dir = abs(&raw.dumptypes);
    let mut dumptypes = if full {
        dumptype::load_dir(&dumptypes_dir)?
    } else {
        BTreeMap::new()
    };
    let disklist_file = abs(&raw.disklist);
    let disklist = if full {
        disklist::load(&disklist_file, &mut dumptypes)?
    } else {
        Vec::new()
    };
    let encryption = encryption(&file, &text, raw.encryption, &abs)?;
    let signing = signing(&file, &text, raw.signing, &abs)?;
    let connect = crate::units::parse_duration(&raw.ssh.connect_timeout)
        .map_err(|m| Error::config(format!("{}: ssh.connect_timeout: {m}", file.display())))?;
    let smtp = match &raw.smtp {
        Some(v) => Some(
            Relay::parse(v.get_ref())
                .map_err(|m| toml_err::at(&file, &text, span(v), &format!("smtp: {m}")))?,
        ),
        None => None,
    };
    let seconds = |key: &str, v: &Option<Spanned<String>>| -> Result<Option<u64>, Error> {
        let Some(v) = v else { return Ok(None) };
        crate::units::parse_duration(v.get_ref())
            .map(|d| Some(d.as_secs()))
            .map_err(|m| toml_err::at(&file, &text, span(v), &format!("{key}: {m}")))
    };
    let min_history = seconds("min_history", &raw.min_history)?;
    let verify_max_age = seconds("verify_max_age", &raw.verify_max_age)?;
    let bumpsize = crate::units::parse_size(raw.bumpsize.get_ref())
        .map_err(|m| toml_err::at(&file, &text, span(&raw.bumpsize), &format!("bumpsize: {m}")))?;
    if !raw.bumpmult.is_finite() || raw.bumpmult < 1.0 {
        return Err(Error::config(format!(
            "{}: bumpmult must be a number of at least 1.0",
            file.display()
        )));
    }
    if full {
        groups::validate(&file, &raw.groups, &disklist)?;
    }
    for (name, h) in &raw.hosts {
        let bad = |m: String| {
            Err(Error::config(format!(
                "{}: hosts.{name}.{m}",
                file.display()
            )))
        };
        if h.maxdumps == Some(0) {
            return bad("maxdumps must be at least 1".into());
        }
        let Some(j) = &h.proxy_jump else { continue };
        if raw.ssh.client == SshClient::Libssh2 {
            return bad(format!(
                "proxy_jump = {j:?} needs ssh.client = \"openssh\" (libssh2 cannot jump)"
            ));
        }
        if j == name || raw.hosts.get(j).is_some_and(|jh| jh.proxy_jump.is_some()) {
            return bad(format!(
                "proxy_jump = {j:?}: a jump host cannot itself jump (one hop; use ssh.config \
                 with ProxyJump for chains)"
            ));
        }
    }
    let vaults = vault::build(&file, raw.vault, &abs, &dumptypes)?;
    let drill = drill::build(&file, raw.drill, &abs)?;
    let catalog = abs(&raw.catalog);
    // (a reader's config of a mirror has its catalog inside the root, as mirrors do)
    if full
        && let Some(root) = changer.root.local()
        && (catalog.starts_with(root) || root.starts_with(&catalog))
    {
        return Err(Error::config(format!(
            "{}: catalog = {:?} and changer.root = {:?} overlap ({}): the catalog is not a \
             tape and the tapes are not the catalog; a mirror of one would overwrite the \
             other",
            file.display(),
            raw.catalog.display(),
            root.display(),
            if catalog == root {
                "the same directory"
            } else {
                "one inside the other"
            }
        ))
        .hint("give each its own directory (the defaults: \"catalog\" and \"vtape\")"));
    }
    Ok(Config {
        org: raw.org,
        dumpcycle: raw.dumpcycle.into_inner(),
        runspercycle: raw.runspercycle.into_inner(),
        tapecycle: raw.tapecycle.into_inner(),
        runtapes: raw.runtapes.into_inner(),
        inparallel: raw.inparallel.into_inner(),
        maxdumps: raw.maxdumps.into_inner(),
        catalog,
        mailto: raw.mailto,
        mailfrom: raw.mailfrom,
        smtp,
        bumpsize,
        bumpmult: raw.bumpmult,
        bumpdays: raw.bumpdays,
        min_history,
        verify_max_age,
        ssh: Ssh {
            user: raw.ssh.user,
            identity: abs(&raw.ssh.identity),
            known_hosts: abs(&raw.ssh.known_hosts),
            connect_timeout: raw.ssh.connect_timeout,
            connect,
            client: raw.ssh.client,
            command: raw.ssh.command,
            config: raw.ssh.config.as_deref().map(abs),
        },
        hosts: raw.hosts,
        holding: match &raw.holding {
            Some(h) => Some(Holding {
                dir: abs(&h.dir),
                size: crate::units::parse_size(h.size.get_ref()).map_err(|m| {
                    toml_err::at(&file, &text, span(&h.size), &format!("holding.size: {m}"))
                })?,
            }),
            None => None,
        },
        mirror: Mirror {
            to: raw
                .mirror
                .to
                .iter()
                .map(|t| {
                    if crate::s3::is_url(t) {
                        t.clone()
                    } else {
                        abs(Path::new(t)).display().to_string()
                    }
                })
                .collect(),
        },
        vaults,
        drill,
        s3: raw.s3,
        signing,
        file,
        disklist_file,
        dumptypes_dir,
        changer,
        encryption,
        dumptypes,
        disklist,
        groups: raw.groups,
    })
}

fn changer(
    file: &Path,
    text: &str,
    raw: RawChanger,
    abs: &dyn Fn(&Path) -> PathBuf,
) -> Result<Changer, Error> {
    let label_re = regex::Regex::new(raw.labelstr.get_ref()).map_err(|e| {
        let msg = format!("changer.labelstr is not a valid regex: {e}").replace('\n', " ");
        toml_err::at(file, text, Some(raw.labelstr.span()), &msg)
    })?;
    let tape_size = crate::units::parse_size(raw.tape_size.get_ref())
        .and_then(|n| {
            if n <= crate::vtape::header::HEADER_SIZE as u64 {
                Err(format!(
                    "changer.tape_size {:?} leaves no room for a dump",
                    raw.tape_size.get_ref()
                ))
            } else {
                Ok(n)
            }
        })
        .map_err(|m| toml_err::at(file, text, Some(raw.tape_size.span()), &m))?;
    if raw.root.as_os_str().is_empty() {
        return Err(Error::config(format!(
            "{}: changer.root is empty: name the directory of the slots",
            file.display()
        )));
    }
    let slots = *raw.slots.get_ref();
    if slots == 0 || slots > 99_999 {
        let m = "changer.slots must be between 1 and 99999";
        return Err(toml_err::at(file, text, Some(raw.slots.span()), m));
    }
    let autolabel = match raw.autolabel {
        Some(a) => Some(check_autolabel(file, text, a, &label_re)?),
        None => None,
    };
    Ok(Changer {
        root: Root::Local(abs(&raw.root)),
        slots,
        labelstr: raw.labelstr.into_inner(),
        label_re,
        autolabel,
        tape_size,
    })
}

fn check_autolabel(
    file: &Path,
    text: &str,
    a: Spanned<String>,
    re: &regex::Regex,
) -> Result<String, Error> {
    let sample = crate::vtape::expand_autolabel(a.get_ref(), 1);
    if !a.get_ref().contains('%') || !re.is_match(&sample) {
        let m = format!(
            "changer.autolabel {:?} must contain %% and give labels matching labelstr \
             (slot 1 would be {sample:?})",
            a.get_ref()
        );
        return Err(toml_err::at(file, text, Some(a.span()), &m));
    }
    Ok(a.into_inner())
}

fn check_numbers(file: &Path, text: &str, raw: &RawConfig, slots: u32) -> Result<(), Error> {
    let positive = [
        ("dumpcycle", &raw.dumpcycle),
        ("runspercycle", &raw.runspercycle),
        ("tapecycle", &raw.tapecycle),
        ("runtapes", &raw.runtapes),
        ("inparallel", &raw.inparallel),
        ("maxdumps", &raw.maxdumps),
    ];
    for (name, v) in positive {
        if *v.get_ref() == 0 {
            return Err(toml_err::at(
                file,
                text,
                span(v),
                &format!("{name} must be at least 1"),
            ));
        }
    }
    let (tc, rpc, rt) = (
        *raw.tapecycle.get_ref(),
        *raw.runspercycle.get_ref(),
        *raw.runtapes.get_ref(),
    );
    if tc <= rpc * rt {
        let m = format!(
            "tapecycle ({tc}) must exceed runspercycle * runtapes ({rpc} * {rt}), \
             or a dump cycle would overwrite its own fulls"
        );
        return Err(toml_err::at(file, text, span(&raw.tapecycle), &m));
    }
    if tc > slots {
        let m = format!("tapecycle ({tc}) exceeds changer.slots ({slots}): rotation would stall");
        return Err(toml_err::at(file, text, span(&raw.tapecycle), &m));
    }
    Ok(())
}

fn span<T>(v: &Spanned<T>) -> Option<std::ops::Range<usize>> {
    let s = v.span();
    if s.is_empty() { None } else { Some(s) }
}

fn encryption(
    file: &Path,
    text: &str,
    raw: RawEncryption,
    abs: &dyn Fn(&Path) -> PathBuf,
) -> Result<Encryption, Error> {
    for r in &raw.recipients {
        crate::keys::parse_recipient(r.get_ref())
            .map_err(|m| toml_err::at(file, text, Some(r.span()), &m))?;
    }
    Ok(Encryption {
        recipients: raw
            .recipients
            .into_iter()
            .map(Spanned::into_inner)
            .collect(),
        recipients_file: raw.recipients_file.map(|p| abs(&p)),
        generate_identity: raw.generate_identity.map(|p| abs(&p)),
    })
}

fn signing(
    file: &Path,
    text: &str,
    raw: RawSigning,
    abs: &dyn Fn(&Path) -> PathBuf,
) -> Result<Signing, Error> {
    let public_key = match raw.public_key {
        Some(p) => {
            if crate::signing::parse_public(p.get_ref()).is_none() {
                let m = "signing.public_key must be an `ssh-ed25519 AAAA…` public key";
                return Err(toml_err::at(file, text, Some(p.span()), m));
            }
            Some(p.into_inner())
        }
        None => None,
    };
    let mut previous = Vec::new();
    for p in raw.previous {
        let bad = |e: String| Error::config(format!("{}: signing.previous: {e}", file.display()));
        let (key, after, before) = match p {
            RawPrevious::Path(k) => (k, None, None),
            RawPrevious::Windowed(w) => (w.key, w.valid_after, w.valid_before),
        };
        let bound = |b: Option<String>| b.map(|b| crate::signing::Window::bound(&b)).transpose();
        let window = crate::signing::Window {
            valid_after: bound(after).map_err(bad)?,
            valid_before: bound(before).map_err(bad)?,
        };
        let key = abs(&key);
        crate::signing::read_public(&key).map_err(|e| bad(format!("{e:#}")))?;
        previous.push(crate::signing::Previous { key, window });
    }
    Ok(Signing {
        key: abs(raw.key.as_deref().unwrap_or(Path::new("keys/signing_key"))),
        public_key,
        previous,
    })
}
