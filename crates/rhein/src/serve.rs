//! `rhein serve`: the three ways to run (embedded default, config file, ephemeral).

use crate::cli::ServeArgs;
use anyhow::{Context, bail};
use rhein_server::config::{ComponentConfig, HostConfig, ListenerConfig, LogFormat};
use rhein_server::{Config, ListenerKind, Persistence, RunningServer, accounts, invites};
use rhein_storage::{InviteKind, NewInvite};
use tokio::signal::unix::{Signal, SignalKind, signal};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // SIGHUP's default action ends the process: from the first moment it asks for a reload
    // instead (acted on once serving), so a `systemctl reload` during start cannot stop us.
    let hangup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    let (config, persistence) = if args.ephemeral {
        (ephemeral_config(&args)?, Persistence::Ephemeral)
    } else if let Some(path) = &args.config {
        (Config::load(path)?, Persistence::Disk)
    } else {
        (Config::embedded_default(), Persistence::Disk)
    };
    let log_filter = init_logging(args.log.as_deref().unwrap_or(&config.server.log_level), config.log.format);
    let domain = config.hosts[0].domain.clone();
    let hosts: Vec<String> = config.hosts.iter().map(|h| h.domain.to_ascii_lowercase()).collect();
    let server = rhein_server::start(config.clone(), persistence).await?;
    if let Some(path) = &args.config {
        server.reloader().read_from(path.clone());
    }
    // `--log` and RUST_LOG win over the configuration's log level, also on reload.
    if let (Some(hook), None) = (log_filter, &args.log) {
        server.reloader().on_log_filter(hook);
    }

    if args.ephemeral {
        for user in &args.users {
            let Some((name, password)) = user.split_once(':') else {
                bail!("--user expects NAME:PASSWORD, got {user:?}");
            };
            accounts::add(&server.db, &domain, name, password).await.with_context(|| format!("creating {name}"))?;
        }
        for name in &args.admins {
            let user = accounts::prepare(name, &domain)?;
            if !server.db.accounts().set_admin(&domain, &user, true).await? {
                bail!("--admin {name}: no such --user");
            }
        }
        let addr = |k| server.addr(k).map(|a| a.to_string());
        let invite = match &args.invite {
            None => None,
            Some(inviter) => {
                let https = server.addr(ListenerKind::Https).map(|a| a.port());
                let creator = match inviter.as_str() {
                    "" => None,
                    name => Some(format!("{}@{domain}", accounts::prepare(name, &domain)?)),
                };
                let kind = if creator.is_some() { InviteKind::User } else { InviteKind::Account };
                let new = NewInvite { subscribe: creator.is_some(), creator, ..NewInvite::new(&domain, kind) };
                let handout =
                    invites::create(&server.db, &config, &new, https).await.context("creating the invitation")?;
                Some(serde_json::json!({ "uri": handout.uri, "landing": handout.landing }))
            }
        };
        let ready = serde_json::json!({
            "domain": domain,
            "c2s": addr(ListenerKind::C2s),
            "c2s_tls": addr(ListenerKind::C2sTls),
            "http": addr(ListenerKind::Http),
            "https": addr(ListenerKind::Https),
            "component": addr(ListenerKind::Component),
            "s2s": addr(ListenerKind::S2s),
            "invite": invite,
        });
        println!("{ready}");
    } else if server.db.accounts().count().await? > 0 {
        // A first-admin link from an earlier start must not outlive the server's first accounts.
        for host in &hosts {
            server.db.invites().revoke_first_admin(host).await?;
        }
    } else {
        // The Snikket way: the operator gets a link that makes the first administrator. The
        // token goes to the terminal (the journal under systemd), the log names only its id.
        let https = server.addr(ListenerKind::Https).map(|a| a.port());
        let handout = invites::first_admin(&server.db, &config, &domain, https).await?;
        tracing::warn!(invite = %handout.invite.id, "no accounts yet; printed an invitation for the first administrator");
        let link = handout.landing.as_deref().unwrap_or(&handout.uri);
        eprintln!(
            "Rhein is running for {domain}. No accounts yet: open this link to create the first \
             administrator (valid for 7 days, once):\n    {link}\n  or in an XMPP app: {}\n  \
             (or create an account with: rhein user add <name>)",
            handout.uri
        );
    }

    until_shutdown(&server, hangup).await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

fn ephemeral_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = Config::embedded_default();
    config.server.storage = Some("sqlite::memory:".into());
    config.hosts = vec![HostConfig { domain: args.domain.to_ascii_lowercase(), certificate: None, key: None }];
    config.listeners = vec![
        ListenerConfig { kind: ListenerKind::C2s, address: args.c2s, allow_plaintext: args.c2s.ip().is_loopback() },
        ListenerConfig { kind: ListenerKind::C2sTls, address: args.c2s_tls, allow_plaintext: false },
        ListenerConfig { kind: ListenerKind::Http, address: args.http, allow_plaintext: args.http.ip().is_loopback() },
        ListenerConfig { kind: ListenerKind::Https, address: args.https, allow_plaintext: false },
    ];
    for component in &args.components {
        let Some((domain, secret)) = component.split_once(':') else {
            bail!("--component expects DOMAIN:SECRET, got {component:?}");
        };
        config.components.push(ComponentConfig { domain: domain.to_ascii_lowercase(), secret: secret.into() });
    }
    if !config.components.is_empty() {
        config.listeners.push(ListenerConfig {
            kind: ListenerKind::Component,
            address: args.component_listener,
            allow_plaintext: false,
        });
    }
    if let Some(address) = args.s2s {
        config.listeners.push(ListenerConfig { kind: ListenerKind::S2s, address, allow_plaintext: false });
    }
    for route in &args.s2s_routes {
        let Some((domain, addr)) = route.split_once('=') else {
            bail!("--s2s-route expects DOMAIN=ADDR, got {route:?}");
        };
        config.s2s.routes.insert(domain.to_ascii_lowercase(), addr.to_owned());
    }
    if let Some(path) = &args.modules {
        #[derive(serde::Deserialize)]
        struct ModulesOnly {
            modules: rhein_server::config::ModulesConfig,
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config.modules = toml::from_str::<ModulesOnly>(&text)
            .with_context(|| format!("{}: expected a [modules] section", path.display()))?
            .modules;
    }
    config.web.webchat_dir = args.webchat_dir.clone();
    config.server.admin_socket = args.admin_socket.clone();
    config.server.log_level = "warn".into();
    Ok(config)
}

/// Logs to stderr through `filter` (RUST_LOG overrides it), as text or JSON lines; returns
/// how to change the filter later, unless RUST_LOG fixed it.
fn init_logging(filter: &str, format: LogFormat) -> Option<rhein_server::reload::LogFilterHook> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, reload};
    let from_env = std::env::var("RUST_LOG").ok();
    let (layer, handle) = reload::Layer::new(EnvFilter::new(from_env.as_deref().unwrap_or(filter)));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    let _ = tracing_subscriber::registry().with(layer).with(fmt).try_init();
    from_env.is_none().then(|| -> rhein_server::reload::LogFilterHook {
        Box::new(move |filter: &str| {
            let filter = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
            handle.reload(filter).map_err(|e| e.to_string())
        })
    })
}

/// Serves until SIGTERM or Ctrl-C; each SIGHUP (`systemctl reload`) reloads what can change.
async fn until_shutdown(server: &RunningServer, mut hangup: Signal) {
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hangup.recv() => {
                let report = server.reload();
                tracing::info!(%report, "SIGHUP");
            }
        }
    }
}
