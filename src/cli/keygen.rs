//! `tapir keygen`: a new age identity.

use std::path::PathBuf;

/// Write a new age identity (mode 0600) and print its recipient (public key).
///
/// Keep the identity offline: the backup server needs only the recipient.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the identity; must not exist.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn run(a: &Args) -> anyhow::Result<i32> {
    let recipient = crate::keys::keygen(&a.output)?;
    eprintln!(
        "tapir: wrote identity {} (keep it offline; without it nothing can be restored)",
        a.output.display()
    );
    outln!("{recipient}");
    Ok(0)
}
