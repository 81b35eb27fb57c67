//! Documentation written once: man/tapir.8 and man/tapir-COMMAND.8 and the shell completions
//! are generated from the clap definitions and must stay in sync (regenerate with
//! `UPDATE_MAN=1 cargo test --features schema --test it docs`); the hand-written tapir.toml(5) must name every
//! config key; every page renders with `man -l` without warnings.

use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::Command;

/// tapir(8): the generated page plus what a Debian man page has and clap does not know.
fn render_main(cmd: clap::Command) -> Vec<u8> {
    let mut out = crate::docs_man::render(cmd, false);
    out.extend_from_slice(TAPIR_8_EXTRA.as_bytes());
    out
}

const TAPIR_8_EXTRA: &str = r#".SH EXIT STATUS
.TP
\fB0\fR
all OK
.TP
\fB1\fR
some DLE failed or was partial (the report says which), or a check, verify or restore found a problem
.TP
\fB2\fR
usage or config error; nothing was changed
.TP
\fB3\fR
another run holds the lock
.TP
\fB4\fR
nothing could be done (no tape, no key, no dump)
.PP
\fBtapir check\-rpo\fR follows the Nagios plugin convention instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
.SH ENVIRONMENT
.TP
\fBTAPIR_CONFIG\fR
the config file when \fB\-\-config\fR is not given
.TP
\fBTAPIR_NOW\fR
the clock (RFC 3339), to simulate schedules
.TP
\fBTAPIR_SENDMAIL\fR
the sendmail program of \fBtapir report \-\-mail\fR and \fBtapir mail\fR when \fBsmtp\fR is unset (default \fI/usr/sbin/sendmail\fR)
.TP
\fBTAPIR_AGENT_CONFIG\fR
the client rules of \fBtapir agent\fR (default \fI/etc/tapir/agent.toml\fR)
.SH FILES
.TP
\fI/etc/tapir/tapir.toml\fR
the config, see \fBtapir.toml\fR(5); \fIdisklist\fR, \fIdisklist.d/*.conf\fR and \fIdumptypes/\fR beside it
.TP
\fIkeys/signing_key\fR, \fIkeys/signing_key.pub\fR
the server's tape signing key and its public half
.TP
\fIcatalog/\fR
history, indexes, run logs and the run lock (0600/0700)
.TP
\fIvtape/slotN/\fR
the virtual tapes, see \fBtapir\-vtape\fR(5)
.SH EXAMPLES
.nf
tapir check
tapir dump \-\-dry\-run
tapir dump
tapir recover \-\-host web1 \-\-disk /etc \-\-date 2026\-11\-20 \-i KEY \-\-to /restore/here
tapir verify \-\-from /mnt/nfs/tapir \-i KEY
tapir check\-rpo \-\-prometheus /var/lib/node_exporter/textfile/tapir.prom
.fi
.SH SEE ALSO
.BR tapir.toml (5),
.BR tapir\-vtape (5),
.BR tapir\-dump (8),
.BR tapir\-recover (8),
.BR age (1),
.BR ssh\-keygen (1),
.BR tar (1),
.BR amanda (8)
"#;

/// One page per subcommand, nested ones too (`tapir-catalog-rebuild`), each with its
/// SYNOPSIS naming the real command (`tapir catalog rebuild`).
fn sub_pages(dir: &Path, cmd: &clap::Command, prefix: &str, pages: &mut Vec<(PathBuf, Vec<u8>)>) {
    for sub in cmd.get_subcommands() {
        // `help` once, for the top level; its children only repeat the others
        if sub.get_name() == "help" && prefix != "tapir" {
            continue;
        }
        let page: &'static str = format!("{prefix}-{}", sub.get_name()).leak();
        let bin: &'static str = page
            .replace('-', " ")
            .replace("check rpo", "check-rpo")
            .leak();
        let c = sub
            .clone()
            .name(page)
            .bin_name(bin)
            .version(env!("CARGO_PKG_VERSION"));
        pages.push((
            dir.join(format!("{page}.8")),
            crate::docs_man::render(c.clone(), true),
        ));
        if sub.get_name() != "help" {
            sub_pages(dir, &c, page, pages);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Compare (or with UPDATE_MAN, write) generated files.
fn in_sync(pages: Vec<(PathBuf, Vec<u8>)>) {
    let update = std::env::var_os("UPDATE_MAN").is_some();
    for (path, body) in pages {
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &body).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert!(
            on_disk == body,
            "{} is stale: run UPDATE_MAN=1 cargo test --features schema --test it docs",
            path.display()
        );
    }
}

#[test]
fn man_pages_match_the_cli() {
    let dir = root().join("man");
    let mut cmd = tapir::cli::Cli::command();
    cmd.build();
    let mut pages = vec![(dir.join("tapir.8"), render_main(cmd.clone()))];
    sub_pages(&dir, &cmd, "tapir", &mut pages);
    in_sync(pages);
    // every page a page refers to exists, and every one-line description is one line
    let reference = regex::Regex::new(r"\\fB(tapir\\-[a-z\\-]+)\\fR\((\d)\)").unwrap();
    for (path, body) in &pages_on_disk(&dir) {
        for r in reference.captures_iter(body) {
            let name = r[1].replace("\\-", "-");
            assert!(
                dir.join(format!("{name}.{}", &r[2])).exists(),
                "{} refers to missing {name}({})",
                path.display(),
                &r[2]
            );
        }
        let name_line = body
            .lines()
            .skip_while(|l| *l != ".SH NAME")
            .nth(1)
            .unwrap_or("");
        assert!(
            name_line.len() <= 100,
            "{}: NAME line of {} bytes: {name_line}",
            path.display(),
            name_line.len()
        );
    }
}

#[test]
fn shell_completions_match_the_cli() {
    use clap_complete::Shell;
    let dir = root().join("completions");
    let pages = [
        (Shell::Bash, "tapir.bash"),
        (Shell::Zsh, "_tapir"),
        (Shell::Fish, "tapir.fish"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut tapir::cli::Cli::command(), "tapir", &mut out);
        (dir.join(file), out)
    })
    .collect();
    in_sync(pages);
}

fn pages_on_disk(dir: &Path) -> Vec<(PathBuf, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect()
}

/// `man -l` output of a page; warnings (stderr) fail the test.
fn man(page: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .expect("man(1) is needed: apt-get install man-db");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "{}: {err}",
        page.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_page_renders_and_tapir_8_lists_every_command_and_exit_code() {
    for e in std::fs::read_dir(root().join("man")).unwrap() {
        man(&e.unwrap().path());
    }
    let text = man(&root().join("man/tapir.8"));
    for sub in tapir::cli::Cli::command().get_subcommands() {
        let page = format!("tapir-{}(8)", sub.get_name());
        assert!(text.contains(&page), "tapir(8) does not list {page}");
    }
    for code in [
        "0 all OK",
        "1 some DLE failed",
        "2 usage or config error",
        "3 another run holds the lock",
        "4 nothing could be done",
    ] {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(code), "exit code {code:?} missing:\n{text}");
    }
}

#[test]
fn tapir_toml_5_documents_every_config_key() {
    let cfg = crate::common::example_config_json();
    let page = std::fs::read_to_string(root().join("man/tapir.toml.5")).unwrap();
    let mut keys = vec![];
    for (k, v) in cfg.as_object().unwrap() {
        match k.as_str() {
            "file" | "hosts" | "disklist" => {}
            "disklist_file" => keys.push("disklist".to_string()),
            "dumptypes_dir" => keys.push("dumptypes".to_string()),
            "vault" => {
                assert!(page.contains(".SH [vault.NAME]"), "section [vault.NAME]");
                let (_, v) = v
                    .as_object()
                    .unwrap()
                    .iter()
                    .next()
                    .expect("a vault in the example");
                keys.extend(
                    v.as_object()
                        .unwrap()
                        .keys()
                        .filter(|k| *k != "name")
                        .cloned(),
                );
            }
            "dumptypes" => {
                let (_, dt) = v.as_object().unwrap().iter().next().unwrap();
                keys.extend(dt.as_object().unwrap().keys().cloned());
            }
            _ => match v.as_object() {
                Some(section) => {
                    assert!(page.contains(&format!(".SH [{k}]")), "section [{k}]");
                    keys.extend(section.keys().cloned());
                }
                None => keys.push(k.clone()),
            },
        }
    }
    for k in keys {
        assert!(
            page.contains(&format!("\\fB{k}\\fR")),
            "tapir.toml(5) does not document {k}"
        );
    }
}

/// One JSON Schema per command that prints data (`--json`), generated from the types it
/// serializes, in docs/schema/; `UPDATE_MAN=1` rewrites them. The vocabulary they share is
/// in docs/schema/README.md. Needs the `schema` feature (scripts/test turns it on).
#[cfg(feature = "schema")]
#[test]
fn json_schemas_match_the_output_types() {
    use schemars::schema_for;
    let dir = root().join("docs/schema");
    let pages: Vec<(&str, schemars::Schema)> = vec![
        ("config", schema_for!(tapir::config::Config)),
        ("tapes", schema_for!(Vec<tapir::vtape::status::TapeStatus>)),
        ("dump", schema_for!(tapir::report::RunSummary)),
        ("dump-dry-run", schema_for!(tapir::driver::DryRun)),
        ("report", schema_for!(tapir::report::RunSummary)),
        ("find", schema_for!(Vec<tapir::vault::state::Listed>)),
        (
            "find-file",
            schema_for!(Vec<tapir::catalog::search::FileHit>),
        ),
        ("diff", schema_for!(tapir::catalog::search::DiffReport)),
        ("overview", schema_for!(tapir::report::overview::Overview)),
        ("status", schema_for!(tapir::driver::progress::RunStatus)),
        ("verify", schema_for!(Vec<tapir::verify::Checked>)),
        ("check", schema_for!(Vec<tapir::check::Item>)),
        ("mirror", schema_for!(tapir::mirror::Report)),
        ("vault", schema_for!(Vec<tapir::vault::Outcome>)),
        ("forecast", schema_for!(tapir::forecast::Forecast)),
        ("drill", schema_for!(tapir::drill::Report)),
        ("due", schema_for!(Vec<tapir::planner::views::Due>)),
        ("balance", schema_for!(Vec<tapir::planner::views::Night>)),
    ];
    let pages = pages
        .into_iter()
        .map(|(name, schema)| {
            let mut body = serde_json::to_vec_pretty(&schema).unwrap();
            body.push(b'\n');
            (dir.join(format!("{name}.json")), body)
        })
        .collect();
    in_sync(pages);
    // the vocabulary: byte counts end in _bytes, one `status`, no number beyond 2^53
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for old in [
            "\"payload_size\"",
            "\"original_size\"",
            "\"verdict\"",
            "\"state\"",
            "\"bytes\"",
            "\"size\"",
        ] {
            assert!(
                !text.contains(old),
                "{}: {old} is not in the vocabulary",
                p.display()
            );
        }
    }
}
