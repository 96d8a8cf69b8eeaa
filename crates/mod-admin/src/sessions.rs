//! XEP-0133 §4.6, §4.19–§4.20, §4.23: ending sessions, the online users (their number and
//! their sessions), and announcements to everyone online.

use crate::{Done, Run, field, value};
use rhein_proto::commands::Command;
use rhein_proto::parsers::data_forms::{Field, FieldType};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use std::collections::BTreeSet;

/// §4.6 End User Session: every session of each account named.
pub(crate) async fn end_sessions(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "Ending user sessions",
            vec![field("accountjids", FieldType::JidMulti, "The Jabber ID(s) whose sessions end", true)],
        ));
    };
    let accounts = submitted.values("accountjids").iter().map(|j| run.account(j)).collect::<Result<Vec<_>, _>>()?;
    if accounts.is_empty() {
        return Err(StanzaError::bad_request().with_text("the field accountjids is required"));
    }
    for account in &accounts {
        run.ctx.router.end_sessions(account);
        tracing::info!(%account, "sessions ended by an administrator");
    }
    Ok(run.done(Done::Note(format!("the sessions of {} end", crate::names(&accounts)))))
}

/// The accounts with a session on the host.
fn online(run: &Run) -> BTreeSet<BareJid> {
    run.ctx.router.sessions_on(&run.ctx.host).iter().map(|j| j.to_bare()).collect()
}

/// §4.19 Get Number of Online Users.
pub(crate) async fn online_num(run: Run) -> Result<Command, StanzaError> {
    let n = online(&run).len();
    Ok(run.done(Done::Form(vec![value("onlineusersnum", FieldType::TextSingle, &n.to_string())])))
}

/// §4.20 Get List of Online Users: each session's full JID.
pub(crate) async fn online_list(run: Run) -> Result<Command, StanzaError> {
    let mut jids = Field::new("onlineuserjids", FieldType::JidMulti);
    jids.values = run.ctx.router.sessions_on(&run.ctx.host).iter().map(|j| j.to_string()).collect();
    Ok(run.done(Done::Form(vec![jids])))
}

/// §4.23 Send Announcement to Online Users: a headline from the host to every session.
pub(crate) async fn announce(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "Making an announcement",
            vec![
                field("subject", FieldType::TextSingle, "Subject", false),
                field("announcement", FieldType::TextMulti, "Announcement", true),
            ],
        ));
    };
    let body = submitted.values("announcement").join("\n");
    if body.trim().is_empty() {
        return Err(StanzaError::bad_request().with_text("the field announcement is required"));
    }
    let mut message = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "headline");
    xml::set_attr(&mut message, "from", &*run.ctx.host);
    if let Some(subject) = submitted.value("subject") {
        message.append_child(xml::text_el("subject", ns::CLIENT, subject));
    }
    message.append_child(xml::text_el("body", ns::CLIENT, body));
    let sessions = run.ctx.router.sessions_on(&run.ctx.host);
    for jid in &sessions {
        let mut copy = message.clone();
        xml::set_attr(&mut copy, "to", jid.as_str());
        run.ctx.router.send_to(jid, copy);
    }
    tracing::info!(sessions = sessions.len(), "announcement sent by an administrator");
    Ok(run.done(Done::Note(format!("sent to {} sessions", sessions.len()))))
}
