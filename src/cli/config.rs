//! `tapir config`: print the effective configuration.

use super::Cli;

/// Print the effective configuration, or import an Amanda config.
///
/// Every default filled in, every path absolute. With --amanda-import: translate an Amanda
/// amanda.conf (its settings, tapetype and `define dumptype` blocks, includefiles followed)
/// and its disklist into a new tapir config directory that loads, and list what could not be
/// carried over; DLEs tapir cannot dump (raw devices) are commented out in the disklist with
/// the reason, and the import then exits 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An Amanda amanda.conf to translate.
    #[arg(long, value_name = "AMANDA_CONF", requires = "to")]
    pub amanda_import: Option<std::path::PathBuf>,
    /// The Amanda disklist to bring along (it is read as it is: tapir reads Amanda's syntax).
    #[arg(long, value_name = "FILE", requires = "amanda_import")]
    pub amanda_disklist: Option<std::path::PathBuf>,
    /// The new config directory (its tapir.toml must not exist yet).
    #[arg(long, value_name = "DIR", requires = "amanda_import")]
    pub to: Option<std::path::PathBuf>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    if let (Some(conf), Some(to)) = (&a.amanda_import, &a.to) {
        return import(conf, a.amanda_disklist.as_deref(), to);
    }
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

fn import(
    conf: &std::path::Path,
    disklist: Option<&std::path::Path>,
    to: &std::path::Path,
) -> anyhow::Result<i32> {
    let done = crate::config::import::import(conf, disklist, to)?;
    for w in &done.written {
        outln!("wrote {}", w.display());
    }
    for f in &done.followed {
        outln!("followed {f}");
    }
    for n in &done.not_carried {
        outln!("not carried over: {n}");
    }
    for l in &done.left_out {
        outln!("DLE left out (commented in the disklist): {l}");
    }
    outln!(
        "{} dumptype(s) imported; {} setting(s) not carried over; {} DLE(s) left out. Next: add \
         the age recipients (keys/recipients.txt) and `tapir --config {} check`",
        done.dumptypes,
        done.not_carried.len(),
        done.left_out.len(),
        to.join("tapir.toml").display()
    );
    Ok(if done.incomplete() { 1 } else { 0 })
}
