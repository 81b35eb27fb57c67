//! `tapir check` (amcheck): every precondition of tonight's run, one item each, before cron
//! finds out at 2 a.m. Nothing is changed but a probe file created and removed.

use crate::config::Config;
use crate::config::dumptype::Auth;
use crate::transport::protocol::{Frame, Message};
use crate::vtape::{self, rotation};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Item {
    pub status: Level,
    pub item: String,
    pub detail: String,
}

/// Largest client clock difference accepted without a warning, and the failing one.
const SKEW_WARN: i64 = 30;
const SKEW_FAIL: i64 = 300;

fn item(status: Level, item: impl Into<String>, detail: impl Into<String>) -> Item {
    Item {
        status,
        item: item.into(),
        detail: detail.into(),
    }
}

/// Run every check (clients in parallel).
pub fn run(cfg: &Config) -> Vec<Item> {
    let parsed = format!("{} parses", cfg.file.display());
    let mut out = vec![match cfg.disklist.len() {
        0 => item(
            Level::Warn,
            "config",
            format!("{parsed}, but the disklist has no DLEs: a run backs up nothing"),
        ),
        n => item(Level::Ok, "config", format!("{parsed}, {n} DLEs")),
    }];
    out.push(signing(cfg));
    out.extend(tapes(cfg));
    out.push(server_clock(cfg));
    out.push(writable("catalog", &cfg.catalog.clone().into()));
    out.extend(cfg.mirror.to.iter().map(|t| mirror_target(cfg, t)));
    for v in cfg.vaults.values() {
        out.extend(v.to.iter().map(|t| vault_target(cfg, v, t)));
    }
    out.extend(recipients(cfg));
    out.extend(ssh_client(cfg));
    let mut hosts: BTreeMap<&str, Vec<&crate::config::disklist::Dle>> = BTreeMap::new();
    for d in &cfg.disklist {
        hosts.entry(&d.host).or_default().push(d);
    }
    let hosts: Vec<_> = hosts.into_iter().collect();
    for items in crate::pool::par_map(&hosts, cfg.inparallel, |(h, dles)| client(cfg, h, dles)) {
        out.extend(items);
    }
    out
}

/// A mirror target can be written: a directory, or a bucket these credentials may put to.
fn mirror_target(cfg: &Config, target: &str) -> Item {
    let what = format!("mirror {target}");
    if !crate::s3::is_url(target) {
        return writable(&what, &std::path::PathBuf::from(target).into());
    }
    let r = crate::s3::Store::open(target, &cfg.s3).and_then(|s| s.check_writable());
    match r {
        Ok(()) => match cfg.s3.object_lock_days {
            None => item(
                Level::Ok,
                what,
                "an object was written, read back and deleted",
            ),
            Some(d) => item(
                Level::Ok,
                what,
                format!(
                    "an object was written and read back, retained by Object Lock \
                     (COMPLIANCE, {d} days)"
                ),
            ),
        },
        Err(e) => item(Level::Fail, what, format!("{e:#}")),
    }
}

/// A vault target can be written (and, with object_lock, retains what is put there).
fn vault_target(cfg: &Config, v: &crate::config::vault::Vault, target: &str) -> Item {
    let what = format!("vault {} {target}", v.name);
    if !crate::s3::is_url(target) {
        return writable(&what, &std::path::PathBuf::from(target).into());
    }
    let r = crate::s3::Store::open(target, &cfg.s3).and_then(|mut s| {
        s.lock_days = None;
        s.check_writable()?;
        if v.object_lock {
            crate::vault::target::check_lock(&mut s, &v.name)?;
        }
        Ok(())
    });
    match r {
        Ok(()) if v.object_lock => item(
            Level::Ok,
            what,
            "an object was written and read back, and a probe is retained by Object Lock \
             (COMPLIANCE): each copy will be kept until its policy releases it",
        ),
        Ok(()) => item(
            Level::Ok,
            what,
            "an object was written, read back and deleted",
        ),
        Err(e) => item(Level::Fail, what, format!("{e:#}")),
    }
}

fn writable(what: &str, dir: &vtape::TapePath) -> Item {
    let r = dir.local_only().and_then(|dir| {
        let probe = dir.join(".tapir-check");
        crate::fsutil::create_dir_all(dir)
            .and_then(|_| std::fs::write(&probe, b"probe").map_err(anyhow::Error::from))
            .and_then(|_| std::fs::remove_file(&probe).map_err(anyhow::Error::from))
    });
    match r {
        Ok(()) => item(Level::Ok, what, format!("{dir} is writable")),
        Err(e) => item(Level::Fail, what, format!("{dir} is not writable: {e:#}")),
    }
}

/// The signing key a run would use: there and matching `signing.public_key`, or creatable
/// without leaving older tapes unverifiable (what `dump` checks before writing).
fn signing(cfg: &Config) -> Item {
    let sig = &cfg.signing;
    let Some(key) = crate::signing::public_of(&sig.key).filter(|_| sig.key.exists()) else {
        // the same test `dump` makes before it would create a key; an unreadable previous
        // key is a FAIL, never an empty trust list
        return match crate::keys::foreign_signers(sig, &cfg.changer) {
            Err(e) => item(Level::Fail, "signing key", format!("{e:#}")),
            Ok(foreign) if !foreign.is_empty() => item(
                Level::Fail,
                "signing key",
                format!(
                    "{} is missing, and tapes are signed by {}: `tapir dump` refuses to make \
                     a new key; restore the file, or see `tapir keygen --signing` and \
                     [signing] previous",
                    sig.key.display(),
                    foreign.join(", ")
                ),
            ),
            Ok(_) => item(
                Level::Ok,
                "signing key",
                format!("{} will be created by the first run", sig.key.display()),
            ),
        };
    };
    let fp = crate::signing::fingerprint(&key);
    match sig
        .public_key
        .as_deref()
        .and_then(crate::signing::parse_public)
    {
        Some(want) if want.key_data() != key.key_data() => item(
            Level::Fail,
            "signing key",
            format!(
                "signing.public_key ({}) is not the public half of signing.key {} ({fp}): \
                 `tapir dump` refuses to run",
                crate::signing::fingerprint(&want),
                sig.key.display()
            ),
        ),
        _ => item(
            Level::Ok,
            "signing key",
            format!(
                "{} ({fp}), {} older key(s) trusted",
                sig.key.display(),
                sig.previous.len()
            ),
        ),
    }
}

/// This server's clock against the catalog's newest datestamp (a clock set back would date
/// a run before the newest dump: `dump` refuses then).
fn server_clock(cfg: &Config) -> Item {
    let newest = crate::catalog::history::load_all(&cfg.catalog)
        .and_then(|records| crate::catalog::newest_datestamp(&cfg.catalog, &records));
    let newest = match newest {
        Ok(n) => n,
        Err(e) => {
            let why = format!("cannot read the catalog's datestamps: {e:#}");
            return item(Level::Fail, "server clock", why);
        }
    };
    let now = match crate::clock::now() {
        Ok(n) => n,
        Err(e) => return item(Level::Fail, "server clock", format!("{e:#}")),
    };
    match (crate::clock::not_before(now, newest.as_deref()), newest) {
        (Err(why), _) => item(Level::Fail, "server clock", why.to_string()),
        (Ok(_), None) => item(Level::Ok, "server clock", "no dump in the catalog yet"),
        (Ok(_), Some(ds)) => item(
            Level::Ok,
            "server clock",
            format!("after the catalog's newest datestamp {ds}"),
        ),
    }
}

fn tapes(cfg: &Config) -> Vec<Item> {
    // without the trusted keys no label could be checked: a FAIL, not labels believed
    let trust = match crate::keys::server_trust(&cfg.signing) {
        Ok(t) => t,
        Err(e) => return vec![item(Level::Fail, "tapes", format!("{e:#}"))],
    };
    let slots = match vtape::scan(&cfg.changer, &trust) {
        Ok(s) => s,
        Err(e) => return vec![item(Level::Fail, "tapes", format!("{e:#}"))],
    };
    let mut out: Vec<Item> = slots
        .iter()
        .filter_map(|s| {
            s.label_error.as_ref().map(|e| match s.damaged {
                Some(_) => item(
                    Level::Fail,
                    format!("slot {}", s.slot),
                    format!("{e}: not written, its dumps kept; `tapir verify` shows it"),
                ),
                None => item(
                    Level::Warn,
                    format!("slot {}", s.slot),
                    format!("unreadable label: {e}"),
                ),
            })
        })
        .collect();
    let missing = crate::catalog::history::load_missing(&cfg.catalog).unwrap_or_else(|e| {
        let why = format!("cannot read the list of missing dumps: {e:#}");
        out.push(item(Level::Fail, "catalog", why));
        vec![]
    });
    for m in missing {
        out.push(item(
            Level::Warn,
            format!("{} {}", m.host, m.disk),
            format!(
                "MISSING: level {} of {} (tape {}, file {}) is no longer on its tape",
                m.level, m.datestamp, m.label, m.file_name
            ),
        ));
    }
    let records = crate::catalog::history::load_all(&cfg.catalog).unwrap_or_else(|e| {
        let why = format!("cannot read the catalog's history: {e:#}");
        out.push(item(Level::Fail, "catalog", why));
        vec![]
    });
    for s in &slots {
        if let Some(why) = rotation::lost_label(s, &records) {
            out.push(item(Level::Fail, format!("slot {}", s.slot), why));
        }
    }
    let rules = match crate::vtape::status::rules(&cfg.catalog, &cfg.changer, cfg.tapecycle) {
        Ok(r) => r,
        Err(e) => {
            out.push(item(Level::Fail, "catalog", format!("{e:#}")));
            return out;
        }
    };
    out.extend(gone_dles(cfg, &records, &rules));
    out.extend(kept_out(cfg, &slots, &rules));
    let (needed, next) = rotation::next_tape(&slots, &records, &rules, &[]);
    match next {
        None => {
            let e = rotation::no_tape_reason(&slots, &needed, rules.autolabel);
            out.push(item(Level::Fail, "tapes", format!("the next run: {e}")))
        }
        Some(slot) => {
            let t = slots
                .iter()
                .find(|s| s.slot == slot)
                .expect("a scanned slot")
                .info();
            let name = t
                .label
                .clone()
                .unwrap_or_else(|| "an empty slot (autolabel)".into());
            out.push(item(
                Level::Ok,
                "tapes",
                format!("next tape: {name} in slot {}", t.slot),
            ));
            out.push(writable("next tape", &cfg.changer.root.slot(t.slot)));
            out.push(room(cfg));
        }
    }
    out
}

/// DLEs the catalog has dumps of that are no longer in the disklist and not retired: their
/// last full pins a tape for ever.
fn gone_dles(
    cfg: &Config,
    records: &[crate::catalog::DumpRecord],
    rules: &rotation::Rules,
) -> Vec<Item> {
    let mut gone: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.host.as_str(), r.disk.as_str()))
        .filter(|(h, d)| cfg.dle(h, d).is_none() && rules.admin.retired(h, d).is_none())
        .collect();
    gone.sort();
    gone.dedup();
    gone.into_iter()
        .map(|(h, d)| {
            let tapes: std::collections::BTreeSet<&str> = records
                .iter()
                .filter(|r| r.host == h && r.disk == d)
                .map(|r| r.label.as_str())
                .collect();
            item(
                Level::Warn,
                format!("{h} {d}"),
                format!(
                    "in the catalog (tapes {}) but no longer in the disklist: its last full pins its tape for ever; `tapir forget {h} {d}` retires it",
                    tapes.into_iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
        .collect()
}

/// Tapes kept out of rotation, counted against it: fewer tapes in rotation than the
/// tapecycle means every tape will soon be needed.
fn kept_out(cfg: &Config, slots: &[crate::vtape::Slot], rules: &rotation::Rules) -> Option<Item> {
    let out: Vec<&str> = slots
        .iter()
        .filter_map(|s| s.label_name())
        .filter(|l| rules.admin.no_reuse(l).is_some())
        .collect();
    if out.is_empty() {
        return None;
    }
    let left = slots.len() - out.len();
    let level = if (left as u32) < cfg.tapecycle {
        Level::Warn
    } else {
        Level::Ok
    };
    Some(item(
        level,
        "rotation",
        format!(
            "{} tape(s) kept out of rotation ({}): {left} of {} slots left in rotation for tapecycle {}",
            out.len(),
            out.join(", "),
            slots.len(),
            cfg.tapecycle
        ),
    ))
}

fn room(cfg: &Config) -> Item {
    let free = cfg.changer.root.local().and_then(crate::sys::free_bytes);
    let need = cfg.changer.tape_size * cfg.runtapes as u64;
    let h = crate::units::human;
    match free {
        Some(f) if f >= need => item(
            Level::Ok,
            "disk space",
            format!(
                "{} free under {}, a run may write {}",
                h(f),
                cfg.changer.root,
                h(need)
            ),
        ),
        Some(f) => item(
            Level::Warn,
            "disk space",
            format!(
                "only {} free under {}; a run may write {} (runtapes × tape_size)",
                h(f),
                cfg.changer.root,
                h(need)
            ),
        ),
        None => item(
            Level::Warn,
            "disk space",
            format!("cannot tell the free space under {}", cfg.changer.root),
        ),
    }
}

/// The OpenSSH client, when a DLE goes over ssh with it: found, and which version.
fn ssh_client(cfg: &Config) -> Option<Item> {
    let over_ssh = cfg
        .disklist
        .iter()
        .any(|d| cfg.dumptype(d).auth == Auth::Ssh);
    if !over_ssh || cfg.ssh.client != crate::config::SshClient::Openssh {
        return None;
    }
    let cmd = &cfg.ssh.command;
    Some(match std::process::Command::new(cmd).arg("-V").output() {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stderr);
            item(
                Level::Ok,
                "ssh client",
                format!("{}: {}", cmd.display(), v.trim()),
            )
        }
        Ok(o) => item(
            Level::Fail,
            "ssh client",
            format!("{} -V exited with {}", cmd.display(), o.status),
        ),
        Err(e) => item(
            Level::Fail,
            "ssh client",
            format!(
                "cannot run {}: {e} (install openssh-client, or set ssh.client = \"libssh2\")",
                cmd.display()
            ),
        ),
    })
}

fn recipients(cfg: &Config) -> Vec<Item> {
    let rs = match crate::keys::recipients(&cfg.encryption) {
        Ok(r) => r,
        Err(e) => return vec![item(Level::Fail, "recipients", format!("{e:#}"))],
    };
    let mut out = vec![item(
        if rs.len() == 1 {
            Level::Warn
        } else {
            Level::Ok
        },
        "recipients",
        if rs.len() == 1 {
            "only one age recipient: if that one identity is lost, every backup is; add a second held by someone else".to_string()
        } else {
            format!("{} age recipients", rs.len())
        },
    )];
    let unlisted = match crate::rekey::unlisted_recipients(cfg, &rs) {
        Ok(u) => u,
        Err(e) => {
            let why = format!("cannot tell which recipients the tapes are wrapped to: {e:#}");
            out.push(item(Level::Warn, "recipients", why));
            Default::default()
        }
    };
    for (fp, n) in unlisted {
        out.push(item(Level::Warn, "recipients", format!("{n} tape file(s) are still wrapped to {fp}, which the config no longer lists: whoever holds its identity can read them; `tapir rekey -i KEY --remove-recipient {fp}` unwraps them")));
    }
    for (path, recipient) in identities_on_server(cfg) {
        if rs.iter().any(|r| r.text == recipient) {
            out.push(item(Level::Warn, "recipients", format!("the identity for {recipient} lies on this server at {}: move it offline (the server must not be able to read its backups)", path.display())));
        }
    }
    out
}

/// age identity files near the config (keys/ and the example's generate_identity).
fn identities_on_server(cfg: &Config) -> Vec<(std::path::PathBuf, String)> {
    let mut files: Vec<std::path::PathBuf> =
        cfg.encryption.generate_identity.iter().cloned().collect();
    if let Some(dir) = cfg
        .encryption
        .recipients_file
        .as_ref()
        .and_then(|f| f.parent())
        && let Ok(rd) = std::fs::read_dir(dir)
    {
        files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
    }
    files.sort();
    files.dedup();
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let secret = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-"))?;
            let id: age::x25519::Identity = secret.trim().parse().ok()?;
            Some((p, id.to_public().to_string()))
        })
        .collect()
}

/// What `tapir check` asks a client: the paths of its tar DLEs, the (program, disk) of its
/// program DLEs.
fn check_request(
    cfg: &Config,
    dles: &[&crate::config::disklist::Dle],
) -> (Vec<String>, Vec<(String, String)>) {
    let mut paths = Vec::new();
    let mut programs = Vec::new();
    for d in dles {
        match &cfg.dumptype(d).program {
            Some(p) => programs.push((p.clone(), d.device.clone())),
            None => paths.push(d.device.clone()),
        }
    }
    (paths, programs)
}

/// One client: reachable, host key known, agent compatible, clock, every DLE path.
fn client(cfg: &Config, host: &str, dles: &[&crate::config::disklist::Dle]) -> Vec<Item> {
    let what = format!("client {host}");
    let mut s = match crate::driver::prepare::connect(cfg, dles[0]) {
        Ok(s) => s,
        Err(e) => return vec![item(Level::Fail, what, format!("{e:#}"))],
    };
    let auth = if cfg.dumptype(dles[0]).auth == Auth::Ssh {
        "over ssh, host key known"
    } else {
        "local agent"
    };
    let mut out = vec![item(
        Level::Ok,
        what.clone(),
        format!("reachable {auth}, agent {}", s.agent_version),
    )];
    let skew = s.client_time - chrono::Utc::now().timestamp();
    let lvl = if skew.abs() > SKEW_FAIL {
        Level::Fail
    } else if skew.abs() > SKEW_WARN {
        Level::Warn
    } else {
        Level::Ok
    };
    out.push(item(
        lvl,
        format!("{what} clock"),
        format!("{skew:+} s from this server (warn over {SKEW_WARN} s, fail over {SKEW_FAIL} s)"),
    ));
    let (paths, programs) = check_request(cfg, dles);
    let program_of: std::collections::BTreeMap<String, String> = programs
        .iter()
        .map(|(p, d)| (d.clone(), p.clone()))
        .collect();
    let answer = s
        .send(&Message::Check { paths, programs })
        .and_then(|_| s.recv(&mut Vec::new()));
    match answer {
        Ok(Frame::Msg(Message::CheckResult { results })) => {
            for (p, err) in results {
                let lvl = match &err {
                    None => Level::Ok,
                    Some(e) if e.starts_with(crate::agent::PARTIAL_PREFIX) => Level::Warn,
                    Some(_) => Level::Fail,
                };
                out.push(item(
                    lvl,
                    format!("{host} {p}"),
                    err.unwrap_or_else(|| match program_of.get(&p) {
                        Some(prog) => format!("program {prog} is allowed and its command exists"),
                        None => "exists and is readable".into(),
                    }),
                ));
            }
        }
        Ok(_) => out.push(item(
            Level::Fail,
            what,
            "the agent does not answer checks (too old?)",
        )),
        Err(e) => out.push(item(Level::Fail, what, format!("{e:#}"))),
    }
    let _ = s.close();
    out
}
