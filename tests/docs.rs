//! Documentation written once: man/tapir.8 and man/tapir-COMMAND.8 are generated from the clap
//! definitions and must stay in sync (regenerate with `UPDATE_MAN=1 cargo test --test docs`).

use clap::CommandFactory;
use std::path::Path;

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut out)
        .unwrap();
    out
}

#[test]
fn man_pages_match_the_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let cmd = tapir::cli::Cli::command();
    let mut pages = vec![("tapir.8".to_string(), render(cmd.clone()))];
    for sub in cmd.get_subcommands() {
        let name: &'static str = format!("tapir-{}", sub.get_name()).leak();
        pages.push((
            format!("{name}.8"),
            render(sub.clone().name(name).version(env!("CARGO_PKG_VERSION"))),
        ));
    }
    let update = std::env::var_os("UPDATE_MAN").is_some();
    for (file, body) in pages {
        let path = dir.join(&file);
        if update {
            std::fs::write(&path, &body).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert!(
            on_disk == body,
            "man/{file} is stale: run UPDATE_MAN=1 cargo test --test docs"
        );
    }
}
