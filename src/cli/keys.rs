//! `tapir keys check`: does this identity (the one in the safe) still open every tape file?
//! Only each file's age header is read, so it is fast, also on object storage. `tapir keys
//! allowed-signers`: the trusted signing keys, with their windows, for the stock ssh-keygen.

use super::Cli;

/// Key maintenance.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the tape files this identity cannot open.
    ///
    /// Tries to unwrap the file key of every dump file the catalog lists (the vtape root, or
    /// the --from ROOT: a mirror, a vault, s3://…) with the identity: only the age header of
    /// each is read, never the data. Run it after every change of recipients and once a
    /// quarter with each identity in the safe. Exit 0 when every file opens, 1 otherwise.
    Check {
        #[arg(short, long, value_name = "FILE")]
        identity: std::path::PathBuf,
        #[command(flatten)]
        root: super::FromRoot,
        #[command(flatten)]
        trust: super::TrustArgs,
    },
    /// The trusted tape signing keys as an allowed-signers file
    ///
    /// One line for the server's signing key and one for each `[signing] previous` key, the
    /// latter with their `valid-after`/`valid-before` windows, so that the stock `ssh-keygen
    /// -Y verify -f FILE -I tapir -n tapir-tape -Overify-time=DATESTAMP` checks old and new
    /// tapes alike (each header's own verification line gives its datestamp). Keep the file
    /// with the age identities.
    AllowedSigners,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let (identity, root, trust) = match &a.action {
        Action::Check {
            identity,
            root,
            trust,
        } => (identity, root, trust),
        Action::AllowedSigners => return allowed_signers(cli),
    };
    let cfg = root.config(cli)?;
    let _reading = crate::catalog::lock::readers(&cfg.catalog)?;
    let trust = trust.trust(&cfg, Some(identity))?;
    let ids = crate::keys::identities(identity)?;
    let mut records = crate::catalog::history::load_all(&cfg.catalog)?;
    records.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
    let mut closed = 0;
    for r in &records {
        let file = cfg.dump_path(r);
        let opened = crate::fetch::open(&file, r, &trust).and_then(|o| o.opens_with(&ids));
        if let Err(e) = opened {
            closed += 1;
            outln!(
                "CANNOT OPEN {} ({} {} level {} of {}): {e:#}",
                file,
                r.host,
                r.disk,
                r.level,
                crate::clock::show_datestamp(&r.datestamp)
            );
        }
    }
    outln!(
        "{} tape file(s) in {}: {} open with {}, {closed} do not",
        records.len(),
        cfg.changer.root,
        records.len() - closed,
        identity.display()
    );
    Ok(if closed == 0 { 0 } else { 1 })
}

fn allowed_signers(cli: &Cli) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let trust = crate::keys::server_trust(&cfg.signing)?;
    if trust.signers.is_empty() {
        return Err(crate::error::Error::nothing_done(format!(
            "no signing key to list: {} does not exist yet (it is made by the first dump)",
            cfg.signing.key.display()
        ))
        .into());
    }
    for (k, w) in trust.signers.iter().zip(&trust.windows) {
        outln!("{}", crate::signing::allowed_signers_line_within(k, w));
    }
    Ok(0)
}
