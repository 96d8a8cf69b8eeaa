//! What changes while the server runs, on SIGHUP, `rhein ctl reload`, or (for certificates)
//! when their files change: certificates are read again and served from the next handshake,
//! and no session is dropped.

use crate::certs::Certificates;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a reload did not take, each with its reason; empty when everything was taken.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub refused: Vec<String>,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.refused.as_slice() {
            [] => write!(f, "reloaded"),
            refused => write!(f, "reloaded, but kept what was running for: {}", refused.join("; ")),
        }
    }
}

/// Reloads the running server's parts that can change.
pub struct Reloader {
    certificates: Arc<Certificates>,
}

impl Reloader {
    pub fn new(certificates: Arc<Certificates>) -> Arc<Self> {
        Arc::new(Self { certificates })
    }

    pub fn reload(&self) -> ReloadReport {
        tracing::info!("reloading");
        ReloadReport { refused: self.certificates.reload() }
    }

    /// Checks the certificate files every `every` (a change reloads them; expiry is warned
    /// of) until the server stops.
    pub fn watch_certificates(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        let this = self.clone();
                        let _ = tokio::task::spawn_blocking(move || this.certificates.check()).await;
                    }
                    _ = async { stop.wait_for(|s| *s).await.is_ok() } => return,
                }
            }
        });
    }
}
