//! `rhein`: run the server (`serve`, `serve --config`, `serve --ephemeral`), manage accounts
//! and invitations (`user`, `invite`), control a running server (`ctl`), and back up and
//! restore its database (`backup`, `restore`), and move data in and out (`export`, `import`).

mod backup;
mod cert;
mod cli;
mod ctl;
mod invite;
mod pie;
mod serve;
mod user;

use clap::Parser;

/// A login allocates and frees some hundred small objects (parsed elements, TLS records,
/// stanza copies): mimalloc's thread-local free lists take about a tenth off its CPU time
/// compared with glibc's malloc, for some 200 more bytes per idle session.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            cli::Command::Serve(args) => serve::run(*args).await,
            cli::Command::User { command } => user::run(command).await,
            cli::Command::Invite { command } => invite::run(command).await,
            cli::Command::Doap => {
                print!("{}", rhein_server::xeps::doap());
                Ok(())
            }
            cli::Command::Ctl(args) => ctl::run(args),
            cli::Command::Cert { command } => cert::run(command),
            cli::Command::Export { user, config } => pie::export(user.as_deref(), config.as_deref()).await,
            cli::Command::Import { path, dry_run, from_prosody, from_ejabberd, config } => {
                let source = match (from_prosody, from_ejabberd) {
                    (true, _) => pie::From::Prosody,
                    (_, true) => pie::From::Ejabberd,
                    _ => pie::From::Xep0227,
                };
                pie::import(&path, dry_run, source, config.as_deref()).await
            }
            cli::Command::Backup { file, config } => backup::backup(&file, config.as_deref()).await,
            cli::Command::Restore { file, config } => backup::restore(&file, config.as_deref()).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rhein: {}", describe(&e));
            // `rhein ctl` tells "no server running" apart from a refusal.
            std::process::ExitCode::from(if e.is::<ctl::NotRunning>() { 2 } else { 1 })
        }
    }
}

/// The error and its causes, each once: library errors already quote their source in their
/// own message, so a cause is only appended when its text is new.
fn describe(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}
