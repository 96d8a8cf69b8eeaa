//! `rhein export` and `rhein import`: the command-line side of `rhein_server::pie`.

use anyhow::{Context, bail};
use rhein_server::Config;
use rhein_server::control::protocol::Request;
use rhein_server::pie::{self, Source};
use rhein_storage::Db;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

async fn open(config_path: Option<&Path>) -> anyhow::Result<(Config, Db, Vec<String>)> {
    let config = match config_path {
        Some(p) => Config::load(p)?,
        None => Config::embedded_default(),
    };
    let url = config.server.storage_url();
    let db = Db::connect(&url).await.with_context(|| format!("opening storage {url}"))?;
    let hosts = config.hosts.iter().map(|h| h.domain.to_ascii_lowercase()).collect();
    Ok((config, db, hosts))
}

/// What `rhein import` reads.
pub enum From {
    Xep0227,
    Ejabberd,
    Prosody,
}

/// Writes the XEP-0227 document to standard output; a summary to standard error.
pub async fn export(user: Option<&str>, config_path: Option<&Path>) -> anyhow::Result<()> {
    let (_, db, hosts) = open(config_path).await?;
    let started = Instant::now();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let done = pie::export(&db, &hosts, user, &mut out).await;
    out.flush()?;
    drop(out);
    db.close().await;
    let done = done?;
    for orphan in &done.orphans {
        eprintln!("rhein: left out {orphan}: data stored without an account");
    }
    eprintln!(
        "exported {} users, {} rooms, {} other entities in {:.1} s",
        done.users,
        done.rooms,
        done.entities,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Checks, then imports; refused while a server runs on the same data directory.
pub async fn import(path: &Path, dry_run: bool, from: From, config_path: Option<&Path>) -> anyhow::Result<()> {
    let (config, db, hosts) = open(config_path).await?;
    if !dry_run {
        // A running server keeps rooms, rosters and credentials in memory: what is
        // replaced under it would not be what it serves.
        let socket = config.server.admin_socket_path();
        match crate::ctl::ask(&socket, &Request::Status) {
            Ok(_) => {
                bail!("a server is running (its admin socket {} answers): stop it before importing", socket.display())
            }
            Err(e) if e.is::<crate::ctl::NotRunning>() => {}
            Err(e) => return Err(e.context("checking whether a server is running")),
        }
    }
    let started = Instant::now();
    let result = match from {
        From::Prosody => {
            let muc = config.muc_subdomain();
            rhein_server::prosody::import(&db, path, &hosts, muc.as_deref(), dry_run).await
        }
        From::Ejabberd => pie::import(&db, path, Source::Ejabberd, &hosts, dry_run).await,
        From::Xep0227 => pie::import(&db, path, Source::Xep0227, &hosts, dry_run).await,
    };
    db.close().await;
    let done = result?;
    for w in &done.warnings {
        eprintln!("rhein: {w}");
    }
    let verb = if dry_run { "would import" } else { "imported" };
    println!(
        "{verb} {} users, {} rooms, {} other entities ({:.1} s)",
        done.users,
        done.rooms,
        done.entities,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
