//! `rhein`: run the server (`serve`, `serve --config`, `serve --ephemeral`) and manage
//! accounts (`user add|del|passwd|list`).

mod cli;
mod serve;
mod user;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rhein: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Serve(args) => serve::run(args).await,
            cli::Command::User { command } => user::run(command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rhein: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
