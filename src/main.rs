//! The `arkisto` command. All logic lives in the library; this only parses and dispatches.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
