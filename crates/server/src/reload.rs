//! What changes while the server runs, on SIGHUP or `rhein ctl reload`: the configuration
//! file is read again and what can change at run time is taken (limits, administrators, log
//! level, web settings, certificates, the settings of modules that take them while running);
//! what cannot is reported as needing a restart and left as it runs. A file that does not parse or validate is refused whole. Certificates are also
//! read again when their files change. No session is dropped.

use crate::certs::{CertSources, Certificates};
use crate::clients::ClientSide;
use crate::config::Config;
use rhein_module::{Module, Reconfigure, ServerInfo};
use rhein_router::Router;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What a reload did not take, each with its reason, and the settings that changed but need
/// a restart.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Why the configuration file was refused whole (it does not parse or validate).
    pub config_refused: Option<String>,
    pub refused: Vec<String>,
    pub needs_restart: Vec<String>,
    pub hosts_added: Vec<String>,
    pub hosts_removed: Vec<String>,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.config_refused {
            Some(why) => write!(f, "configuration refused, the running one stays: {why}")?,
            None => write!(f, "reloaded")?,
        }
        if !self.hosts_added.is_empty() {
            write!(f, "; hosts added: {}", self.hosts_added.join(", "))?;
        }
        if !self.hosts_removed.is_empty() {
            write!(f, "; hosts removed (their sessions ended): {}", self.hosts_removed.join(", "))?;
        }
        if !self.needs_restart.is_empty() {
            write!(f, "; needs a restart to change: {}", self.needs_restart.join(", "))?;
        }
        if !self.refused.is_empty() {
            write!(f, "; kept what was running for: {}", self.refused.join("; "))?;
        }
        Ok(())
    }
}

/// Sets the log filter (the binary owns the subscriber).
pub type LogFilterHook = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Whether two configurations differ in a setting.
type Differs = fn(&Config, &Config) -> bool;

/// The settings that only a restart changes, by name.
const RESTART_ONLY: &[(&str, Differs)] = &[
    ("listeners", |a, b| a.listeners != b.listeners),
    ("storage", |a, b| a.server.storage_url() != b.server.storage_url()),
    ("data_dir", |a, b| a.server.data_dir != b.server.data_dir),
    ("admin_socket", |a, b| a.server.admin_socket_path() != b.server.admin_socket_path()),
    ("modules (which run)", |a, b| a.modules.running() != b.modules.running()),
    ("s2s", |a, b| a.s2s != b.s2s),
    ("components", |a, b| a.components != b.components),
    ("certificate_check_secs", |a, b| a.server.certificate_check_secs != b.server.certificate_check_secs),
    ("log format", |a, b| a.log != b.log),
    ("metrics listen", |a, b| a.metrics != b.metrics),
];

fn domains(c: &Config) -> Vec<String> {
    c.hosts.iter().map(|h| h.domain.to_ascii_lowercase()).collect()
}

/// The running modules, by name.
pub(crate) type RunningModules = Vec<(String, Arc<dyn Module>)>;

/// Reloads the running server's parts that can change.
pub struct Reloader {
    certificates: Arc<Certificates>,
    router: Router,
    modules: RunningModules,
    clients: Arc<ClientSide>,
    server: Arc<ServerInfo>,
    /// The configuration in effect, and the file it is read again from (none: an ephemeral
    /// or embedded server, whose reload reads only certificates).
    running: Mutex<(Config, Option<PathBuf>)>,
    persist: bool,
    log_filter: Mutex<Option<LogFilterHook>>,
}

impl Reloader {
    pub(crate) fn new(
        certificates: Arc<Certificates>,
        router: Router,
        modules: RunningModules,
        clients: Arc<ClientSide>,
        server: Arc<ServerInfo>,
        config: Config,
        persist: bool,
    ) -> Arc<Self> {
        let running = Mutex::new((config, None));
        let log_filter = Mutex::new(None);
        Arc::new(Self { certificates, router, modules, clients, server, running, persist, log_filter })
    }

    /// Reload reads the configuration from `path` from now on.
    pub fn read_from(&self, path: PathBuf) {
        self.lock().1 = Some(path);
    }

    /// How a reload changes the log level.
    pub fn on_log_filter(&self, hook: LogFilterHook) {
        *self.log_filter.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Config, Option<PathBuf>)> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn reload(&self) -> ReloadReport {
        tracing::info!("reloading");
        let mut report = ReloadReport::default();
        let path = self.lock().1.clone();
        if let Some(path) = path {
            match Config::load(&path) {
                Ok(config) => self.apply(config, &mut report),
                Err(e) => {
                    tracing::error!(error = %e, "configuration refused; the running one stays");
                    report.config_refused = Some(e.to_string());
                }
            }
        }
        report.refused.extend(self.certificates.reload());
        if !report.needs_restart.is_empty() {
            tracing::warn!(settings = ?report.needs_restart, "changed settings need a restart; they keep their running values");
        }
        report
    }

    /// Takes from `new` what can change at run time; the rest stays as it runs.
    fn apply(&self, new: Config, report: &mut ReloadReport) {
        let mut running = self.lock();
        let old = &running.0;
        report.needs_restart =
            RESTART_ONLY.iter().filter(|(_, differs)| differs(old, &new)).map(|(n, _)| (*n).to_owned()).collect();
        let mut taken = old.clone();
        taken.limits = new.limits.clone();
        taken.web = new.web.clone();
        taken.server.admins = new.server.admins.clone();
        taken.server.log_level = new.server.log_level.clone();
        taken.server.certificates = new.server.certificates.clone();
        taken.hosts = new.hosts.clone();
        if domains(old) != domains(&new) {
            let (added, removed) = self.router.set_hosts(&domains(&new));
            report.hosts_added = added;
            report.hosts_removed = removed;
        }
        let admins = taken.server.admins.iter().map(|a| a.to_lowercase()).collect();
        *self.server.admins.write().unwrap_or_else(|p| p.into_inner()) = admins;
        if taken.server.log_level != old.server.log_level
            && let Some(hook) = self.log_filter.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && let Err(e) = hook(&taken.server.log_level)
        {
            report.refused.push(format!("log_level {:?}: {e}", taken.server.log_level));
            taken.server.log_level = old.server.log_level.clone();
        }
        self.certificates.set_sources(CertSources::new(&taken.hosts, &taken.server, self.persist));
        self.clients.apply(&taken);
        self.reconfigure_modules(&mut taken, &new, report);
        running.0 = taken;
    }

    /// Hands each running module whose table changed its new one; what a module does not
    /// take stays in `taken` as it runs.
    fn reconfigure_modules(&self, taken: &mut Config, new: &Config, report: &mut ReloadReport) {
        let table = |c: &Config, name: &str| match c.modules.settings.get(name) {
            Some(toml::Value::Table(t)) => Ok(t.clone()),
            Some(_) => Err(format!("[modules.{name}] must be a table")),
            None => Ok(toml::Table::new()),
        };
        for (name, module) in &self.modules {
            let (Ok(old), new) = (table(taken, name), table(new, name)) else { continue };
            let new = match new {
                Ok(new) if new == old => continue,
                Ok(new) => new,
                Err(why) => {
                    report.refused.push(why);
                    continue;
                }
            };
            match module.reconfigure(&new) {
                Ok(()) => {
                    tracing::info!(module = %name, "module settings reloaded");
                    taken.modules.settings.insert(name.clone(), toml::Value::Table(new));
                }
                Err(Reconfigure::NeedsRestart(what)) => report.needs_restart.push(format!("modules.{name} ({what})")),
                Err(Reconfigure::Invalid(e)) => report.refused.push(e.to_string()),
            }
        }
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
