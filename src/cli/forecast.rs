//! `tapir forecast`: what stays restorable, and which slot the next runs overwrite.

use super::Cli;
use crate::forecast::{self, Forecast};

/// What stays restorable in N days, per DLE and copy; which slot each run overwrites.
///
/// Plays the next --days nightly runs forward on the rotation's rules (one tape a run, fulls
/// when each DLE's dumpcycle says): for each DLE the oldest full restorable today and then, in
/// the rotation, each mirror and each vault (its policy counted on that day); the slot each
/// night overwrites and the dumps that leave the rotation with it; a WARN for each DLE whose
/// history will be shorter than min_history. Exit 0, or 1 when a DLE will fall below
/// min_history or no tape may be written.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many nights ahead.
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub days: u32,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let f = forecast::run(&cfg, a.days)?;
    let bad =
        f.dles.iter().any(|d| d.below_min_history) || f.nights.iter().any(|n| n.slot.is_none());
    if cli.json {
        super::print_json(&f)?;
    } else {
        say(&f)?;
    }
    Ok(if bad { 1 } else { 0 })
}

/// A datestamp as a local date and time, or `-`.
fn when(ds: &Option<String>) -> String {
    ds.as_deref()
        .map_or("-".into(), crate::clock::show_datestamp)
}

pub fn say(f: &Forecast) -> anyhow::Result<()> {
    outln!(
        "{:<12} {:<24} {:<24} {:<17} OLDEST FULL IN {} DAYS",
        "HOST",
        "DISK",
        "COPY",
        "OLDEST FULL NOW",
        f.days
    );
    for d in &f.dles {
        for c in &d.copies {
            outln!(
                "{:<12} {:<24} {:<24} {:<17} {}",
                d.host,
                d.disk,
                c.copy,
                when(&c.oldest_now),
                when(&c.oldest_then)
            );
        }
    }
    for n in &f.nights {
        let at = crate::clock::show_datestamp(&n.datestamp);
        match (&n.slot, &n.label) {
            (Some(s), Some(l)) => {
                let gone: Vec<String> = n
                    .dropped
                    .iter()
                    .map(|d| {
                        format!(
                            "{} {} level {} of {}",
                            d.host,
                            d.disk,
                            d.level,
                            crate::clock::show_datestamp(&d.datestamp)
                        )
                    })
                    .collect();
                outln!(
                    "run {at}: overwrites slot {s} ({l}){}",
                    if gone.is_empty() {
                        String::new()
                    } else {
                        format!(", dropping {}", gone.join("; "))
                    }
                );
            }
            _ => outln!("run {at}: no tape may be written (`tapir tapes` says why)"),
        }
    }
    for d in f.dles.iter().filter(|d| d.below_min_history) {
        let min = f.min_history_seconds.unwrap_or(0);
        outln!(
            "WARN {} {}: in {} days its oldest restorable full is younger than min_history ({})",
            d.host,
            d.disk,
            f.days,
            crate::clock::human_span(chrono::Duration::seconds(min as i64))
        );
    }
    Ok(())
}
