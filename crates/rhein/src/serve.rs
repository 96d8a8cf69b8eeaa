//! `rhein serve`: the three ways to run (embedded default, config file, ephemeral).

use crate::cli::ServeArgs;
use anyhow::{Context, bail};
use rhein_server::config::{ComponentConfig, HostConfig, ListenerConfig};
use rhein_server::{Config, ListenerKind, Persistence, accounts, invites};
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
    init_logging(args.log.as_deref().unwrap_or(&config.server.log_level));
    let domain = config.hosts[0].domain.clone();
    let hosts: Vec<String> = config.hosts.iter().map(|h| h.domain.to_ascii_lowercase()).collect();
    let server = rhein_server::start(config.clone(), persistence).await?;

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

    shutdown_signal(hangup).await;
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

fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serves until SIGTERM or Ctrl-C; each SIGHUP (`systemctl reload`) asks for a reload.
async fn shutdown_signal(mut hangup: Signal) {
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hangup.recv() => reload_requested(),
        }
    }
}

/// The reload hook, a placeholder until reloading is built: logged, nothing changes.
fn reload_requested() {
    tracing::warn!("reload requested (SIGHUP); reloading is not implemented yet, nothing changed");
}
