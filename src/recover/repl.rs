//! The shell's input: line editing, history and tab completion (rustyline) on a terminal;
//! plain lines from stdin otherwise, where the first failing command stops the script.

use super::shell::{Flow, Shell};
use anyhow::Result;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::rc::Rc;

const PROMPT: &str = "recover> ";

/// Run the shell until `quit` or end of input; the exit code.
pub fn run(shell: Shell<'_>) -> Result<i32> {
    if std::io::stdin().is_terminal() {
        interactive(shell)
    } else {
        script(shell, std::io::stdin().lock())
    }
}

/// Commands from a script: each line runs in turn; an error stops with its exit code (a
/// wrong `cd` must not let a later `add *` pick the wrong files).
pub fn script(mut shell: Shell<'_>, input: impl BufRead) -> Result<i32> {
    for (n, line) in input.lines().enumerate() {
        match shell.exec(&line?) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => break,
            Err(e) => {
                crate::say::problem(format!("recover: line {}: {e:#}", n + 1));
                return Ok(crate::error::exit_code_of(&e));
            }
        }
    }
    Ok(if shell.refused_any { 1 } else { 0 })
}

fn interactive(mut shell: Shell<'_>) -> Result<i32> {
    shell.confirm = Some(Box::new(|q: &str| {
        print!("{q}");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes")
    }));
    outln!("tapir recover: `help` lists the commands; tab completes names");
    let shell = Rc::new(RefCell::new(shell));
    let mut rl = rustyline::Editor::<Helper<'_>, rustyline::history::DefaultHistory>::new()?;
    rl.set_helper(Some(Helper(shell.clone())));
    loop {
        match rl.readline(PROMPT) {
            Ok(line) => {
                let _ = rl.add_history_entry(line.as_str());
                match shell.borrow_mut().exec(&line) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Quit) => break,
                    Err(e) => crate::say::problem(format!("{e:#}")),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let refused = shell.borrow().refused_any;
    Ok(if refused { 1 } else { 0 })
}

/// Where the word under the cursor starts, and what can complete it.
pub fn complete_line(shell: &mut Shell<'_>, line: &str, pos: usize) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let cmd = before[..start].split_whitespace().next();
    (start, shell.complete_names(cmd, &before[start..]))
}

struct Helper<'a>(Rc<RefCell<Shell<'a>>>);

impl Completer for Helper<'_> {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete_line(&mut self.0.borrow_mut(), line, pos))
    }
}

impl Hinter for Helper<'_> {
    type Hint = String;
}
impl Highlighter for Helper<'_> {}
impl Validator for Helper<'_> {}
impl rustyline::Helper for Helper<'_> {}
