//! `tapir mail --subject S`: standard input as a text mail to the config's mailto, by the
//! same route as the report (the failure unit pipes `systemctl status` into it).

use super::Cli;
use crate::report::mail;
use anyhow::Context;
use std::io::Read;

/// Mail standard input to the config's mailto (over `smtp`, else sendmail).
///
/// For mails that are not a run's report, e.g. tapir-failure@.service's
/// `systemctl status … | tapir mail --subject "tapir.service failed"`. Only the config's
/// mail keys are read, so the mail leaves even when the rest of the config is broken. At most
/// 1 MiB of input is sent.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Subject line.
    #[arg(long, short = 's')]
    pub subject: String,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    // only the mail keys: the failure this mail reports may be a broken config
    let keys = crate::config::mail_keys(&crate::config::locate(cli.config.as_deref()))?;
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(1 << 20)
        .read_to_string(&mut text)
        .context("cannot read the mail's text from standard input (it must be UTF-8)")?;
    let body = mail::Body {
        subject: &a.subject,
        text: &text,
        html: None,
    };
    mail::send(
        &mail::Outbox::new(keys.mailto, keys.mailfrom, keys.smtp),
        &body,
    )?;
    Ok(0)
}
