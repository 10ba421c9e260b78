//! The `burrow` command line. Parsing and presentation live in
//! `src/commands`; everything else is the engine in the library crate.

mod commands;

fn main() {
    std::process::exit(commands::main());
}
