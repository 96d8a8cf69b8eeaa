//! `rhein cert check`: which certificate each host gets, the names each covers, and when
//! each expires, read from the files as the server would read them.

use crate::cli::CertCommand;
use anyhow::bail;
use rhein_server::Config;
use rhein_server::certs::{CertSources, EXPIRY_WARNING};
use std::time::SystemTime;

pub fn run(command: CertCommand) -> anyhow::Result<()> {
    let CertCommand::Check { config } = command;
    let config = match &config {
        Some(path) => Config::load(path)?,
        None => Config::embedded_default(),
    };
    let sources = CertSources::new(&config.hosts, &config.server, false);
    let (surveyed, without) = sources.survey();
    let now = SystemTime::now();
    let mut problems = 0;
    for cert in &surveyed {
        let host = cert.host.as_deref().map(|h| format!(" (host {h})")).unwrap_or_default();
        println!("{}{host}", cert.file.display());
        match &cert.info {
            Ok(info) => {
                let days = info.remaining(now).as_secs() / 86_400;
                println!("  names: {}", info.names.join(", "));
                println!("  expires: {} ({days} days left)", date(info.not_after));
                if info.remaining(now) < EXPIRY_WARNING {
                    println!("  WARNING: expires within {} days", EXPIRY_WARNING.as_secs() / 86_400);
                    problems += 1;
                }
                if let Some(h) = &cert.host
                    && !info.covers(h)
                {
                    println!("  WARNING: does not cover {h}");
                    problems += 1;
                }
            }
            Err(e) => {
                println!("  ERROR: {e}");
                problems += 1;
            }
        }
    }
    for host in without {
        println!("{host}: no certificate found; the server generates a self-signed one");
    }
    if problems > 0 {
        bail!("{problems} certificate problem(s)");
    }
    Ok(())
}

/// XEP-0082 time, to the second.
fn date(t: SystemTime) -> String {
    let ms = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    rhein_proto::time::datetime(i64::try_from(ms).unwrap_or(i64::MAX))
}
