//! `tapir tapes`: every slot, its label and whether it may be reused.

use super::Cli;
use crate::units::human;

/// Show the slots, their labels, and which tape is next.
///
/// Show slots, labels, last written, dumps, bytes, reusable?, and the next tape to write.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(cli: &Cli, _: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let st = crate::vtape::status::status(
        &cfg.changer,
        &crate::catalog::history::load_all(&cfg.catalog)?,
        &crate::vtape::status::rules(&cfg.catalog, &cfg.changer, cfg.tapecycle)?,
        &crate::keys::server_trust(&cfg.signing)?,
    )?;
    if cli.json {
        super::print_json(&st)?;
        return Ok(0);
    }
    outln!(
        "{:>4}  {:<14} {:<19} {:>5} {:>10}  {:<8} NOTE",
        "SLOT",
        "LABEL",
        "LAST WRITTEN",
        "DUMPS",
        "BYTES",
        "REUSABLE"
    );
    for t in &st {
        let written = t
            .last_written
            .as_deref()
            .and_then(crate::clock::parse_datestamp)
            .map_or("never".to_string(), |d| {
                d.format("%Y-%m-%d %H:%M:%S").to_string()
            });
        let next = if t.next { "  <- next" } else { "" };
        outln!(
            "{:>4}  {:<14} {:<19} {:>5} {:>10}  {:<8} {}{next}",
            t.slot,
            if t.damaged {
                "DAMAGED"
            } else {
                t.label.as_deref().unwrap_or("-")
            },
            written,
            t.dumps,
            human(t.bytes),
            if t.reusable { "yes" } else { "no" },
            t.note.as_deref().unwrap_or("")
        );
    }
    if !st.iter().any(|t| t.next) {
        outln!("no tape may be written by the next run: see the notes above");
    }
    Ok(0)
}
