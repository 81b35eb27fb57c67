//! `tapir agent`: the client side, speaking the protocol on stdin/stdout.

use std::path::PathBuf;

/// Serve dump requests on stdin/stdout.
///
/// The SSH forced command on a client, or spawned by the server for local DLEs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Client rules: allowed roots, hooks, log (default /etc/tapir/agent.toml, if present).
    #[arg(long, value_name = "PATH", env = "TAPIR_AGENT_CONFIG")]
    pub agent_config: Option<PathBuf>,
}

pub fn run(a: &Args) -> anyhow::Result<i32> {
    let policy = crate::agent::policy::Policy::load(a.agent_config.as_deref())?;
    // Under the forced command, sshd puts what the caller asked to run here. The server asks
    // for `tapir agent`; anything else is someone using the server's key by hand.
    if let Some(asked) = std::env::var_os("SSH_ORIGINAL_COMMAND")
        && asked != "tapir agent"
    {
        let asked = asked.to_string_lossy();
        let shown: String = asked
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        policy.refuse(&format!(
            "command {shown:?} over ssh: this key runs only the tapir agent"
        ));
        return Ok(crate::error::exit::USAGE);
    }
    let stdin = std::io::stdin().lock();
    // the protocol is binary: write stdout's file directly, not through std's line buffer
    // (which looks for newlines in every data frame and splits its writes there)
    let stdout = std::io::stdout().lock();
    let raw = std::os::fd::AsFd::as_fd(&stdout).try_clone_to_owned()?;
    let out = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::from(raw));
    crate::agent::serve(stdin, out, &policy)?;
    drop(stdout);
    Ok(0)
}
