//! `tapir keygen`: a new age identity, or (`--signing`) a new tape signing key.

use std::path::PathBuf;

/// Make an age identity, or the server's tape signing key.
///
/// Write a new age identity (mode 0600) and print its recipient (public key).
///
/// Keep the identity offline: the backup server needs only the recipient. With --signing:
/// a new ed25519 tape signing key for the server (FILE and FILE.pub); keep the public half
/// with the identities.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the identity; must not exist.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Make the server's tape signing key instead (signing.key in tapir.toml).
    #[arg(long)]
    pub signing: bool,
}

pub fn run(a: &Args) -> anyhow::Result<i32> {
    if a.signing {
        let s = crate::signing::create(&a.output)?;
        eprintln!(
            "tapir: wrote signing key {} and {}; set signing.key to it, and keep this line \
             with the age identities:",
            a.output.display(),
            crate::signing::pub_path(&a.output).display()
        );
        outln!(
            "{}{}",
            crate::signing::IDENTITY_COMMENT,
            crate::signing::openssh(s.public()).trim_end()
        );
        return Ok(0);
    }
    let recipient = crate::keys::keygen(&a.output)?;
    eprintln!(
        "tapir: wrote identity {} (keep it offline; without it nothing can be restored)",
        a.output.display()
    );
    outln!("{recipient}");
    Ok(0)
}
