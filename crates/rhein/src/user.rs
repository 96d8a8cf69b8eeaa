//! `rhein user add|del|passwd|list`.

use crate::cli::{Target, UserCommand};
use anyhow::{Context, bail};
use rhein_server::control::protocol::{Reply, Request};
use rhein_server::{Config, accounts};
use rhein_storage::Db;
use std::io::{BufRead, IsTerminal, Write};

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { names, admin, password_stdin, target } => {
            let (db, host) = open(&target).await?;
            let password = password(password_stdin)?;
            for name in &names {
                if !accounts::add(&db, &host, name, &password).await? {
                    bail!("{name}@{host} already exists");
                }
                if admin {
                    db.accounts().set_admin(&host, &accounts::prepare(name, &host)?, true).await?;
                }
            }
            // A running server may remember that there was no such account.
            settle().await;
            for name in &names {
                println!("created {}@{host}", accounts::prepare(name, &host)?);
            }
        }
        UserCommand::Del { name, target } => {
            let (config, db, host) = open_config(&target).await?;
            let user = format!("{}@{host}", accounts::prepare(&name, &host)?);
            // A running server deletes it itself, and tells the account's contacts.
            let request = Request::DeleteUser { user: user.clone() };
            match crate::ctl::ask(&config.server.admin_socket_path(), &request) {
                Ok(Reply::Ok { .. }) => {}
                Ok(Reply::Refused { reason }) => bail!("{reason}"),
                // Only with no server running is storage changed from here.
                Err(e) if !e.is::<crate::ctl::NotRunning>() => return Err(e),
                Err(_) if !accounts::delete(&db, &host, &name).await? => bail!("no account {user}"),
                Err(_) => settle().await,
            }
            println!("deleted {user}");
        }
        UserCommand::Passwd { name, password_stdin, target } => {
            let (db, host) = open(&target).await?;
            let password = password(password_stdin)?;
            if !accounts::set_password(&db, &host, &name, &password).await? {
                bail!("no account {name}@{host}");
            }
            settle().await;
            println!("password changed for {name}@{host}");
        }
        UserCommand::List { target } => {
            let (db, host) = open(&target).await?;
            for user in db.accounts().list(&host).await? {
                println!("{user}@{host}");
            }
        }
    }
    Ok(())
}

/// A running server keeps credentials in memory and learns of changes made here within
/// this time: returning only after it means the change is in force when the command ends.
pub(crate) async fn settle() {
    tokio::time::sleep(rhein_storage::ACCOUNT_CHANGES_SETTLE).await;
}

/// Storage and host named by the config (or the embedded default).
async fn open(target: &Target) -> anyhow::Result<(Db, String)> {
    let (_, db, host) = open_config(target).await?;
    Ok((db, host))
}

/// The configuration (or the embedded default), its storage, and the host named.
pub(crate) async fn open_config(target: &Target) -> anyhow::Result<(Config, Db, String)> {
    let config = match &target.config {
        Some(path) => Config::load(path)?,
        None => Config::embedded_default(),
    };
    let host = match &target.domain {
        Some(d) if config.hosts.iter().any(|h| h.domain.eq_ignore_ascii_case(d)) => d.to_ascii_lowercase(),
        Some(d) => bail!("{d} is not a configured host"),
        None => config.hosts[0].domain.clone(),
    };
    let url = config.server.storage_url();
    let db = Db::connect(&url).await.with_context(|| format!("opening storage {url}"))?;
    Ok((config, db, host))
}

/// The password from stdin, or prompted twice on a terminal without echo.
fn password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = prompt("Password: ")?;
    let second = prompt("Again: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let echo_off = std::process::Command::new("stty").arg("-echo").stdin(std::process::Stdio::inherit()).status();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off.is_ok() {
        let _ = std::process::Command::new("stty").arg("echo").stdin(std::process::Stdio::inherit()).status();
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
