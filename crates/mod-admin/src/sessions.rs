//! XEP-0133 §4.6, §4.19–§4.20, §4.23: ending sessions, the online users (their number and
//! their sessions), and announcements to everyone online.

use crate::{Done, Run, field, value};
use rhein_proto::StanzaError;
use rhein_proto::commands::Command;
use rhein_proto::parsers::data_forms::{Field, FieldType};

/// §4.6 End User Session: every session of each account named (or the one a full JID names).
pub(crate) async fn end_sessions(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "Ending user sessions",
            vec![field("accountjids", FieldType::JidMulti, "The Jabber ID(s) whose sessions end", true)],
        ));
    };
    let jids = run.jids(&submitted, "accountjids")?;
    let reason = submitted.value("reason");
    let mut ended = 0;
    for jid in &jids {
        ended += run.service.end_sessions(&run.ctx, jid, reason)?;
    }
    Ok(run.done(Done::Note(format!("{ended} sessions end"))))
}

/// §4.19 Get Number of Online Users.
pub(crate) async fn online_num(run: Run) -> Result<Command, StanzaError> {
    let n = run.service.online_accounts(&run.ctx).len();
    Ok(run.done(Done::Form(vec![value("onlineusersnum", FieldType::TextSingle, &n.to_string())])))
}

/// §4.20 Get List of Online Users: each session's full JID.
pub(crate) async fn online_list(run: Run) -> Result<Command, StanzaError> {
    let mut jids = Field::new("onlineuserjids", FieldType::JidMulti);
    jids.values = run.service.sessions(&run.ctx, None).into_iter().map(|s| s.jid.to_string()).collect();
    Ok(run.done(Done::Form(vec![jids])))
}

/// §4.21–§4.22 and §4.26–§4.27: the active users (or the idle ones), their number or their
/// list.
pub(crate) async fn activity(run: Run, active: bool, list: bool) -> Result<Command, StanzaError> {
    let (busy, idle) = run.service.active_and_idle(&run.ctx);
    let (users, kind) = if active { (busy, "active") } else { (idle, "idle") };
    let field = match list {
        true => {
            let mut jids = Field::new(&format!("{kind}userjids"), FieldType::JidMulti);
            jids.values = users.iter().map(|u| u.to_string()).collect();
            jids
        }
        false => value(&format!("{kind}usersnum"), FieldType::TextSingle, &users.len().to_string()),
    };
    Ok(run.done(Done::Form(vec![field])))
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
    let sent = run.service.announce(&run.ctx, submitted.value("subject"), &body)?;
    Ok(run.done(Done::Note(format!("sent to {sent} sessions"))))
}
