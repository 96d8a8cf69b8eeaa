//! `rhein serve`: the three ways to run (embedded default, config file, ephemeral).

use crate::cli::ServeArgs;
use anyhow::{Context, bail};
use rhein_server::config::{ComponentConfig, HostConfig, ListenerConfig};
use rhein_server::{Config, ListenerKind, Persistence, accounts};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (config, persistence) = if args.ephemeral {
        (ephemeral_config(&args)?, Persistence::Ephemeral)
    } else if let Some(path) = &args.config {
        (Config::load(path)?, Persistence::Disk)
    } else {
        (Config::embedded_default(), Persistence::Disk)
    };
    init_logging(args.log.as_deref().unwrap_or(&config.server.log_level));
    let domain = config.hosts[0].domain.clone();
    let server = rhein_server::start(config, persistence).await?;

    if args.ephemeral {
        for user in &args.users {
            let Some((name, password)) = user.split_once(':') else {
                bail!("--user expects NAME:PASSWORD, got {user:?}");
            };
            accounts::add(&server.db, &domain, name, password).await.with_context(|| format!("creating {name}"))?;
        }
        let addr = |k| server.addr(k).map(|a| a.to_string());
        let ready = serde_json::json!({
            "domain": domain,
            "c2s": addr(ListenerKind::C2s),
            "c2s_tls": addr(ListenerKind::C2sTls),
            "http": addr(ListenerKind::Http),
            "https": addr(ListenerKind::Https),
            "component": addr(ListenerKind::Component),
            "s2s": addr(ListenerKind::S2s),
        });
        println!("{ready}");
    } else if server.db.accounts().count().await? == 0 {
        tracing::warn!("no accounts yet; create the first one with: rhein user add <name>");
        eprintln!(
            "Rhein is running for {domain}. No accounts yet; create the first one with:\n    rhein user add <name>"
        );
    }

    shutdown_signal().await;
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
    config.server.log_level = "warn".into();
    Ok(config)
}

fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
