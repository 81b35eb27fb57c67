//! `tapir agent`: the client side, speaking the protocol on stdin/stdout.

/// Serve dump requests on stdin/stdout (run by the SSH forced command or the local transport).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: &Args) -> anyhow::Result<i32> {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    crate::agent::serve(stdin, stdout)?;
    Ok(0)
}
