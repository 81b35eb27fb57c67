//! Documentation written once: man/tapir.8 and man/tapir-COMMAND.8 and the shell completions
//! are generated from the clap definitions and must stay in sync (regenerate with
//! `UPDATE_MAN=1 cargo test --test docs`); the hand-written tapir.toml(5) must name every
//! config key; every page renders with `man -l` without warnings.

mod common;

use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::Command;

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut out)
        .unwrap();
    out
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
            "{} is stale: run UPDATE_MAN=1 cargo test --test docs",
            path.display()
        );
    }
}

#[test]
fn man_pages_match_the_cli() {
    let dir = root().join("man");
    let cmd = tapir::cli::Cli::command();
    let mut pages = vec![(dir.join("tapir.8"), render(cmd.clone()))];
    for sub in cmd.get_subcommands() {
        let name: &'static str = format!("tapir-{}", sub.get_name()).leak();
        pages.push((
            dir.join(format!("{name}.8")),
            render(sub.clone().name(name).version(env!("CARGO_PKG_VERSION"))),
        ));
    }
    in_sync(pages);
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
    let cfg = common::example_config_json();
    let page = std::fs::read_to_string(root().join("man/tapir.toml.5")).unwrap();
    let mut keys = vec![];
    for (k, v) in cfg.as_object().unwrap() {
        match k.as_str() {
            "file" | "hosts" | "disklist" => {}
            "disklist_file" => keys.push("disklist".to_string()),
            "dumptypes_dir" => keys.push("dumptypes".to_string()),
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
