//! tapir: parse, run, decide one exit code.

fn main() {
    std::process::exit(tapir::cli::main());
}
