//! `tapir config`: print the effective configuration.

use super::Cli;

/// Print the effective configuration.
///
/// Every default filled in, every path absolute.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(cli: &Cli, _: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    if cli.json {
        super::print_json(&cfg)?;
    } else {
        crate::cli::out::text(&format!(
            "# effective configuration from {}\n{}",
            cfg.file.display(),
            toml::to_string(&cfg)?
        ))?;
    }
    Ok(0)
}
