//! How the generated man pages are put together: clap_mangen's sections, with a SYNOPSIS that
//! names every option's argument, a date in `.TH`, and on every command page its EXIT STATUS
//! and EXAMPLES (which clap does not know), written here once.

/// The pages' date (`.TH`): when their text last changed; bump with the CLI.
pub const DATE: &str = "2026-12-07";

/// The examples of each command page (`tapir-catalog-rebuild` for nested ones).
pub const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "agent",
        &[
            "# ~tapir/.ssh/authorized_keys on a client (what tapir enroll prints):",
            "restrict,command=\"tapir agent\" ssh-ed25519 AAAA… tapir@backup",
            "tapir agent --agent-config /etc/tapir/agent.toml",
        ],
    ),
    (
        "balance",
        &[
            "tapir balance",
            "tapir balance --json | jq '.[].planned_tape_bytes'",
        ],
    ),
    (
        "catalog",
        &[
            "tapir catalog rebuild --from /mnt/nfs/tapir -i /safe/identity.txt",
            "tapir catalog forget-missing --host web1",
        ],
    ),
    (
        "catalog-forget-missing",
        &[
            "tapir find | grep MISSING",
            "tapir catalog forget-missing --host web1",
        ],
    ),
    (
        "catalog-rebuild",
        &[
            "tapir catalog rebuild",
            "tapir catalog rebuild --from /mnt/nfs/tapir --signing-pub /safe/identity.txt",
        ],
    ),
    (
        "check",
        &[
            "tapir check",
            "tapir check --json | jq '.[] | select(.status != \"OK\")'",
        ],
    ),
    (
        "check-rpo",
        &[
            "tapir check-rpo --warn 26h --crit 50h",
            "/usr/bin/sudo -n -u tapir /usr/bin/tapir check-rpo   # from NRPE",
            "tapir check-rpo --prometheus /var/lib/prometheus/node-exporter/tapir.prom",
        ],
    ),
    (
        "config",
        &[
            "tapir config",
            "tapir config --amanda-import /etc/amanda/DailySet1/amanda.conf --amanda-disklist /etc/amanda/DailySet1/disklist --to /etc/tapir",
        ],
    ),
    (
        "diff",
        &[
            "tapir diff web1 /etc 2026-11-20 2026-11-27",
            "tapir diff --json web1 /etc 2026-11-20 2026-11-27 | jq -r '.changed[].path'",
        ],
    ),
    ("due", &["tapir due", "tapir due --json"]),
    (
        "dump",
        &[
            "tapir dump --dry-run",
            "tapir dump",
            "tapir dump web1 /etc",
            "tapir dump --json-progress | jq -c 'select(.event == \"progress\")'",
        ],
    ),
    (
        "enroll",
        &[
            "tapir enroll web1.example.org --fingerprint SHA256:abc…",
            "tapir enroll web1.example.org --from 192.0.2.10",
        ],
    ),
    (
        "fetch",
        &[
            "tapir fetch --host web1 --disk /etc --date 2026-11-20 -o etc.img",
            "tapir fetch --host web1 --disk /etc -i /safe/identity.txt -o - | tar -tvf -",
        ],
    ),
    (
        "find",
        &[
            "tapir find web1",
            "tapir find --file '*.conf' --host web1",
            "tapir find --file 'etc/ssh/**' --json",
        ],
    ),
    ("flush", &["tapir status", "tapir flush"]),
    (
        "force",
        &["tapir force web1 /var/www", "tapir due | grep web1"],
    ),
    (
        "forget",
        &[
            "tapir forget oldhost /srv",
            "tapir forget oldhost /srv --keep-until 2027-06-30",
        ],
    ),
    (
        "keygen",
        &[
            "tapir keygen -o /safe/identity.txt",
            "tapir keygen --signing -o /etc/tapir/keys/signing_key",
        ],
    ),
    (
        "label",
        &[
            "tapir label 3 DailySet1-03",
            "tapir label --no-reuse 5",
            "tapir label --reuse 5",
        ],
    ),
    (
        "mail",
        &["systemctl status tapir.service | tapir mail --subject 'tapir.service failed'"],
    ),
    (
        "mirror",
        &[
            "tapir mirror",
            "tapir mirror --to /mnt/nfs/tapir",
            "tapir mirror --to s3://backups/tapir",
        ],
    ),
    (
        "keys",
        &[
            "tapir keys check -i /safe/identity-2025.txt --from /mnt/nfs/tapir",
            "tapir keys allowed-signers > /safe/tapir-allowed-signers",
        ],
    ),
    (
        "keys-allowed-signers",
        &[
            "tapir keys allowed-signers > /safe/tapir-allowed-signers",
            "ssh-keygen -Y verify -f /safe/tapir-allowed-signers -I tapir -n tapir-tape -s F.sig -Overify-time=20260101020000 < F.hdr",
        ],
    ),
    (
        "rekey",
        &[
            "tapir rekey -i /safe/ops.txt --remove-recipient age1olds… --add-recipient age1new… --dry-run",
            "tapir rekey -i /safe/ops.txt --remove-recipient sha256:0a1b2c3d4e5f6a7b --add-recipient age1new…",
            "tapir rekey -i /safe/ops.txt --remove-recipient age1olds… --add-recipient age1new… --from s3://backups/tapir",
        ],
    ),
    (
        "keys-check",
        &[
            "tapir keys check -i KEY",
            "tapir keys check -i /safe/identity-2025.txt --from s3://backups/tapir",
        ],
    ),
    (
        "sums",
        &[
            "tapir sums --host web1 --disk /etc --date 2026-11-20 > /tmp/etc.sha256",
            "cd /restore/here && sha256sum -c --quiet /tmp/etc.sha256",
            "tapir sums --from /mnt/nfs/tapir --host web1 --disk /etc",
        ],
    ),
    (
        "drill",
        &[
            "tapir drill --from /mnt/nfs/tapir -i /root/tapir-identity.txt --max-bytes 20G --textfile /var/lib/prometheus/node-exporter",
            "tapir drill --from s3://backups/tapir -i KEY --host db1 --seed 1796676254955750859",
            "tapir drill --from /mnt/nfs/tapir --check --max-age 14d",
        ],
    ),
    (
        "forecast",
        &["tapir forecast", "tapir forecast --days 30 --json"],
    ),
    (
        "vault",
        &[
            "tapir vault",
            "tapir vault --prune --dry-run",
            "tapir vault longterm --prune",
            "tapir recover --from /mnt/archive/tapir --host db1 --disk /var/lib/db --date 2026-03-31 -i KEY --to /srv/restore",
        ],
    ),
    (
        "overview",
        &["tapir overview", "tapir overview --nights 7 --json"],
    ),
    (
        "recover",
        &[
            "tapir recover -i /safe/identity.txt",
            "tapir recover --host web1 --disk /etc --date 2026-11-20 -i /safe/identity.txt --to /restore/etc ssh/sshd_config",
            "tapir recover --from /mnt/nfs/tapir --host web1 --disk /etc -i /safe/identity.txt --to /restore/etc",
        ],
    ),
    (
        "report",
        &[
            "tapir report",
            "tapir report 2026-11-20 --mail",
            "tapir report --html > night.html",
        ],
    ),
    ("status", &["tapir status", "watch -n 5 tapir status"]),
    (
        "tapes",
        &[
            "tapir tapes",
            "tapir tapes --json | jq '.[] | select(.reusable)'",
        ],
    ),
    (
        "unforce",
        &["tapir force web1 /var/www", "tapir unforce web1 /var/www"],
    ),
    (
        "verify",
        &[
            "tapir verify",
            "tapir verify DailySet1-03 -i /safe/identity.txt",
            "tapir verify --from /mnt/nfs/tapir -i /safe/identity.txt",
        ],
    ),
];

/// Exit codes as DESIGN.md has them (check-rpo: the Nagios plugin's).
const EXIT: &str = ".SH EXIT STATUS\n.TP\n\\fB0\\fR\nall OK\n.TP\n\\fB1\\fR\nsomething is not OK \
(a DLE failed or was partial, a check, verify or restore found a problem); the output says what\n\
.TP\n\\fB2\\fR\nusage or config error; nothing was changed\n.TP\n\\fB3\\fR\nanother run holds the lock\n\
.TP\n\\fB4\\fR\nnothing could be done (no tape, no key, no dump)\n";
const EXIT_RPO: &str = ".SH EXIT STATUS\n.TP\n\\fB0\\fR\nOK\n.TP\n\\fB1\\fR\nWARNING\n.TP\n\
\\fB2\\fR\nCRITICAL\n.TP\n\\fB3\\fR\nUNKNOWN (bad arguments, an unreadable catalog or config)\n";

/// roff text: backslashes and hyphens escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// What an argument's value is called (`PATH`, or its id in capitals).
fn value_name(a: &clap::Arg) -> String {
    a.get_value_names()
        .map(|v| {
            v.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase())
}

/// `[\fB\-c\fR|\fB\-\-config\fR \fIPATH\fR]`: an option with its argument.
fn option(a: &clap::Arg) -> Option<String> {
    let mut names = vec![];
    if let Some(s) = a.get_short() {
        names.push(format!("\\fB\\-{}\\fR", esc(&s.to_string())));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", esc(l)));
    }
    if names.is_empty() {
        return None;
    }
    let mut s = names.join("|");
    if a.get_action().takes_values() {
        s.push_str(&format!(" \\fI{}\\fR", esc(&value_name(a))));
    }
    Some(if a.is_required_set() {
        s
    } else {
        format!("[{s}]")
    })
}

/// `<\fIHOST\fR>`, `[\fIDISKS\fR]...`.
fn positional(a: &clap::Arg) -> String {
    let v = value_name(a);
    let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
    let v = format!("\\fI{}\\fR", esc(&v));
    let v = if a.is_required_set() {
        format!("<{v}>")
    } else {
        format!("[{v}]")
    };
    if many { format!("{v}...") } else { v }
}

fn synopsis(cmd: &clap::Command) -> String {
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut words = vec![format!("\\fB{}\\fR", esc(name))];
    let args: Vec<&clap::Arg> = cmd.get_arguments().filter(|a| !a.is_hide_set()).collect();
    words.extend(
        args.iter()
            .filter(|a| !a.is_positional())
            .filter_map(|a| option(a)),
    );
    words.extend(
        args.iter()
            .filter(|a| a.is_positional())
            .map(|a| positional(a)),
    );
    if cmd.has_subcommands() {
        words.push("<\\fIcommand\\fR>".into());
    }
    format!(".SH SYNOPSIS\n{}\n", words.join(" "))
}

fn examples(page: &str) -> Option<String> {
    let key = page.strip_prefix("tapir-")?;
    let (_, lines) = EXAMPLES.iter().find(|(k, _)| *k == key)?;
    let body: Vec<String> = lines.iter().map(|l| esc(l)).collect();
    Some(format!(".SH EXAMPLES\n.nf\n{}\n.fi\n", body.join("\n")))
}

/// A page: clap_mangen's sections with our SYNOPSIS, then EXIT STATUS and EXAMPLES on
/// command pages (`tapir.8` brings its own).
pub fn render(cmd: clap::Command, command_page: bool) -> Vec<u8> {
    let page = cmd.get_name().to_string();
    let man = clap_mangen::Man::new(cmd.clone()).section("8").date(DATE);
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    out.extend_from_slice(synopsis(&cmd).as_bytes());
    man.render_description_section(&mut out).unwrap();
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out).unwrap();
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out).unwrap();
    }
    if command_page && page != "tapir-help" {
        out.extend_from_slice(
            if page == "tapir-check-rpo" {
                EXIT_RPO
            } else {
                EXIT
            }
            .as_bytes(),
        );
        let ex = examples(&page)
            .unwrap_or_else(|| panic!("no EXAMPLES for {page}: add them in tests/it/docs_man.rs"));
        out.extend_from_slice(ex.as_bytes());
    }
    man.render_version_section(&mut out).unwrap();
    out
}
