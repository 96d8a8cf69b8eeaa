//! `rhein backup FILE` and `rhein restore FILE`: the command-line side of
//! `rhein_storage::backup` (what is refused, and why, is decided there).

use anyhow::{Context, bail};
use rhein_server::Config;
use rhein_server::control::protocol::Request;
use rhein_storage::Db;
use std::path::Path;
use std::time::Instant;

fn config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::embedded_default(),
    })
}

/// Backs up the configured database while the server may be running.
pub async fn backup(file: &Path, config_path: Option<&Path>) -> anyhow::Result<()> {
    let config = config(config_path)?;
    let url = config.server.storage_url();
    let db_file = rhein_storage::sqlite_file(&url)?;
    if !db_file.exists() {
        bail!("there is no database at {} to back up", db_file.display());
    }
    let db = Db::connect(&url).await.with_context(|| format!("opening storage {url}"))?;
    let started = Instant::now();
    let written = db.backup(file).await;
    db.close().await;
    let bytes = written?;
    println!(
        "backed up {} to {} ({bytes} bytes in {:.1} s)",
        db_file.display(),
        file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Replaces the configured database with a backup, refusing while a server runs.
pub async fn restore(file: &Path, config_path: Option<&Path>) -> anyhow::Result<()> {
    let config = config(config_path)?;
    let db_file = rhein_storage::sqlite_file(&config.server.storage_url())?;
    // A server that answers on its admin socket has the database open; the storage layer's
    // own check (nobody else has the file open) covers a server without one.
    let socket = config.server.admin_socket_path();
    match crate::ctl::ask(&socket, &Request::Status) {
        Ok(_) => bail!("a server is running (its admin socket {} answers): stop it before restoring", socket.display()),
        Err(e) if e.is::<crate::ctl::NotRunning>() => {}
        Err(e) => return Err(e.context("checking whether a server is running")),
    }
    let restored = rhein_storage::restore_sqlite(&db_file, file).await?;
    match &restored.previous {
        Some(old) => println!(
            "restored {} from {} (schema version {}); the previous database is {}",
            db_file.display(),
            file.display(),
            restored.version,
            old.display()
        ),
        None => {
            println!("restored {} from {} (schema version {})", db_file.display(), file.display(), restored.version)
        }
    }
    Ok(())
}
