//! `tapir keygen`: a new age identity (with `--paper`, its printable copy too; `--from-paper`
//! types one back), or (`--signing`) a new tape signing key.

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
    #[arg(long, conflicts_with_all = ["paper", "from_paper"])]
    pub signing: bool,
    /// Also write a printable paper copy of the new identity to FILE.paper: the key in
    /// groups of four with a checksum line, and a QR code.
    #[arg(long, conflicts_with = "from_paper")]
    pub paper: bool,
    /// Make the identity file FILE from its paper copy, typed on standard input (the lines
    /// from AGE-SECRET-KEY-1 to the checksum line); prints its public key to compare with
    /// the page's.
    #[arg(long)]
    pub from_paper: bool,
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
    if a.from_paper {
        let mut typed = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut typed)?;
        let recipient = crate::paper::restore(&typed, &a.output)?;
        eprintln!(
            "tapir: wrote identity {} from its paper copy; its public key (compare it with the \
             page's):",
            a.output.display()
        );
        outln!("{recipient}");
        return Ok(0);
    }
    let recipient = crate::keys::keygen(&a.output)?;
    eprintln!(
        "tapir: wrote identity {} (keep it offline; without it nothing can be restored)",
        a.output.display()
    );
    if a.paper {
        let paper = paper_path(&a.output);
        crate::keys::write_paper(&a.output, &paper)?;
        eprintln!(
            "tapir: wrote its paper copy {}: print it for the safe, then delete it",
            paper.display()
        );
    }
    outln!("{recipient}");
    Ok(0)
}

/// `FILE.paper`.
fn paper_path(identity: &std::path::Path) -> PathBuf {
    let mut s = identity.as_os_str().to_owned();
    s.push(".paper");
    PathBuf::from(s)
}
