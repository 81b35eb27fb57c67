//! `tapir agent`: the client side, speaking the protocol on stdin/stdout.

use std::path::PathBuf;

/// Serve dump requests on stdin/stdout (the SSH forced command, or spawned locally).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Client rules: allowed roots, hooks, log (default /etc/tapir/agent.toml, if present).
    #[arg(long, value_name = "PATH", env = "TAPIR_AGENT_CONFIG")]
    pub agent_config: Option<PathBuf>,
}

pub fn run(a: &Args) -> anyhow::Result<i32> {
    let policy = crate::agent::policy::Policy::load(a.agent_config.as_deref())?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    crate::agent::serve(stdin, stdout, &policy)?;
    Ok(0)
}
