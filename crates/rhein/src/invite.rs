//! `rhein invite create|list|revoke`: invitations made by the operator, against the
//! configured storage (a running server sees them at once).

use crate::cli::InviteCommand;
use crate::user::open_config;
use anyhow::{Context, bail};
use rhein_proto::BareJid;
use rhein_server::invites;
use rhein_storage::{InviteKind, NewInvite};

pub async fn run(command: InviteCommand) -> anyhow::Result<()> {
    match command {
        InviteCommand::Create { admin, uses, expires, groups, rooms, username, inviter, note, target } => {
            let (config, db, host) = open_config(&target).await?;
            if uses == 0 {
                bail!("--uses must be at least 1");
            }
            let username = username.map(|u| rhein_server::accounts::prepare(&u, &host)).transpose()?;
            let inviter = inviter.map(|j| jid(&j, "--inviter")).transpose()?;
            if let Some(inviter) = &inviter
                && inviter.domain().as_str() != host
            {
                bail!("--inviter must be an account of {host}");
            }
            let rooms = rooms.iter().map(|r| jid(r, "--room").map(|j| j.to_string())).collect::<Result<_, _>>()?;
            let new = NewInvite {
                subscribe: inviter.is_some(),
                creator: inviter.map(|j| j.to_string()),
                valid_for_ms: expires,
                uses,
                username,
                groups,
                rooms,
                admin,
                note,
                ..NewInvite::new(&host, InviteKind::Account)
            };
            let handout = invites::create(&db, &config, &new, None).await.context("storing the invitation")?;
            println!("invitation {} for {host}, usable until {}", handout.invite.id, expiry(handout.invite.expires_at));
            if let Some(landing) = &handout.landing {
                println!("link: {landing}");
            }
            println!("xmpp: {}", handout.uri);
        }
        InviteCommand::List { target } => {
            let (_, db, host) = open_config(&target).await?;
            for i in db.invites().list(&host).await? {
                let creator = i.creator.as_deref().unwrap_or("(operator)");
                let username = i.username.as_deref().map(|u| format!(" username={u}")).unwrap_or_default();
                let admin = if i.admin { " admin" } else { "" };
                let note = i.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                println!(
                    "{}  {:<8} {:<8} uses left {:<3} until {}  by {creator}{username}{admin}{note}",
                    i.id,
                    i.kind.as_str(),
                    invites::state(&i),
                    i.uses_left,
                    expiry(i.expires_at),
                );
            }
        }
        InviteCommand::Revoke { id, target } => {
            let (_, db, _) = open_config(&target).await?;
            if !db.invites().revoke(&id).await? {
                bail!("no usable invitation {id}");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}

fn jid(s: &str, option: &str) -> anyhow::Result<BareJid> {
    BareJid::new(s).with_context(|| format!("{option}: {s:?} is not a bare JID"))
}

fn expiry(ms: i64) -> String {
    rhein_proto::time::datetime(ms)
}
