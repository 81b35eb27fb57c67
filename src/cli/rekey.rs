//! `tapir rekey`: change the recipients of every tape file by rewriting only its age header.

use super::Cli;
use crate::error::Error;
use std::path::PathBuf;

/// Change who can decrypt the tapes, rewriting only each file's age header.
///
/// Every server-encrypted tape file of the vtape root (or of --from ROOT: a mirror or a
/// vault, a directory or s3://…) is wrapped to its recipients minus the removed ones plus
/// the added ones. The file key is unwrapped with the identity (-i); the encrypted data
/// after the age header is copied as it was, never decrypted. Each header is signed anew
/// with the server's signing key and the catalog's sha256 follows. One file at a time,
/// written beside and renamed into place: a kill leaves every file readable by the old set
/// or the new one, and a rerun finishes. Rekey the vtape first, then each copy: a copy of a
/// dump the vtape holds rekeyed gets the vtape file's very bytes. On S3 the store copies the
/// data itself (UploadPartCopy); an old version that Object Lock retains is named with its
/// date. A holder of a removed key who already copied a file's key can still read that
/// file: rekeying protects against whoever gets the identity later. Exit 0 when every file
/// is wrapped to its new set, 1 when some could not be.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An age identity that opens the tapes (one of their current recipients).
    #[arg(short, long, value_name = "FILE")]
    pub identity: PathBuf,
    /// Wrap every file to this recipient too (age1… or ssh-ed25519 …).
    #[arg(long, value_name = "RECIPIENT")]
    pub add_recipient: Vec<String>,
    /// Wrap every file to the recipients in FILE too (one a line, as -R of age).
    #[arg(long, value_name = "FILE")]
    pub add_recipients_file: Vec<PathBuf>,
    /// Unwrap every file from this recipient (its key, or its `sha256:…` fingerprint as
    /// `tapir check` names it).
    #[arg(long, value_name = "RECIPIENT")]
    pub remove_recipient: Vec<String>,
    /// Unwrap every file from the recipients in FILE.
    #[arg(long, value_name = "FILE")]
    pub remove_recipients_file: Vec<PathBuf>,
    /// Say what would be rekeyed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub root: super::FromRoot,
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let server = match &a.root.from {
        Some(_) if !super::no_config_file(cli) => Some(super::load_config(cli)?),
        _ => None,
    };
    let mut add = a.add_recipient.clone();
    for f in &a.add_recipients_file {
        add.extend(crate::rekey::set::read_file(f)?);
    }
    let mut remove = a.remove_recipient.clone();
    for f in &a.remove_recipients_file {
        remove.extend(crate::rekey::set::read_file(f)?);
    }
    // a reader's config (a copy, no tapir.toml) has none: files are then resolved by the
    // added keys alone, and one wrapped to any other key is refused by name
    let configured = match crate::keys::recipients(&cfg.encryption) {
        Ok(r) => r,
        Err(e) => {
            crate::say::problem(format!(
                "tapir: WARNING: the config's recipients are not known ({e:#}): each file \
                 keeps only the recipients given with --add-recipient"
            ));
            Vec::new()
        }
    };
    let listed = configured.len();
    let change = crate::rekey::Change::new(add, remove, configured)
        .map_err(|e| Error::config(format!("{e:#}")))?;
    warn_still_configured(&change.known[..listed], &change);
    // a copy's lock (--from): one its mirror or vault run takes too; none where its file
    // system has no locks, said
    let _lock = match &a.root.from {
        None => Some(crate::catalog::lock::exclusive(&cfg.catalog, "rekey")?),
        Some(_) => {
            let lock = crate::catalog::lock::copy(&cfg.catalog, "rekey")?;
            if lock.is_none() {
                crate::say::problem(format!(
                    "tapir: WARNING: {}: its file system has no locks: do not run a mirror or \
                     vault into this copy while the rekey runs",
                    cfg.catalog.join("lock").display()
                ));
            }
            lock
        }
    };
    let trust = a.trust.trust(&cfg, Some(&a.identity))?;
    let ids = crate::keys::identities(&a.identity)?;
    let signer = signer(&cfg)?;
    let ctx = crate::rekey::Ctx {
        cfg: &cfg,
        server: server.as_ref(),
        trust: &trust,
        ids: &ids,
        signer: &signer,
        change: &change,
        dry_run: a.dry_run,
    };
    let mut said = Ok(());
    let rep = crate::rekey::run(&ctx, |line| {
        if said.is_ok() {
            said = crate::out::line(format_args!("{line}"));
        }
    })?;
    said?;
    for given in change.removed_nothing() {
        crate::say::problem(format!(
            "tapir: WARNING: no tape file here is wrapped to the removed recipient {given}: \
             removed already, or not the text the config had (check it, or give the sha256: \
             fingerprint `tapir check` names)"
        ));
    }
    let verb = if a.dry_run {
        "would be rekeyed"
    } else {
        "rekeyed"
    };
    outln!(
        "{} tape file(s) in {}: {} {verb} ({} read, {} written), {} already wrapped to \
         their new set, {} not encrypted on the server, {} could not be rekeyed",
        rep.files,
        cfg.changer.root,
        rep.rekeyed,
        crate::units::human(rep.bytes),
        crate::units::human(rep.sent),
        rep.unchanged,
        rep.plain,
        rep.problems
    );
    if rep.rekeyed > 0 && !a.dry_run {
        outln!(
            "Check it with each identity kept: tapir keys check -i KEY{}",
            a.root
                .from
                .as_ref()
                .map(|f| format!(" --from {}", f.display()))
                .unwrap_or_default()
        );
    }
    Ok(if rep.problems == 0 { 0 } else { 1 })
}

/// The server's signing key, which must exist: a rekey signs every header anew.
fn signer(cfg: &crate::config::Config) -> anyhow::Result<crate::signing::Signer> {
    let key = &cfg.signing.key;
    if !key.exists() {
        return Err(Error::nothing_done(format!(
            "the signing key {} is missing: a rekey signs every header it rewrites (run it \
             on the backup server, or give its config with --config)",
            key.display()
        ))
        .into());
    }
    Ok(crate::signing::Signer::load_or_create(key)?.0)
}

/// A removed recipient that the config still lists gets every new dump: say so.
fn warn_still_configured(configured: &[crate::keys::Recipient], change: &crate::rekey::Change) {
    for r in configured {
        if change.remove.contains(&r.fingerprint()) {
            crate::say::problem(format!(
                "tapir: WARNING: {} ({}) is still in encryption.recipients: new dumps are \
                 still encrypted to it; remove it from the config too",
                r.text,
                r.fingerprint()
            ));
        }
    }
}
