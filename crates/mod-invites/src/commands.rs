//! The XEP-0401 commands: a contact invitation for anyone (that also lets the invitee
//! register here when the requester may bring in accounts), and an account invitation, with
//! a form for the username and the subscription, for those who may create accounts.

use crate::{Invites, Registration, links};
use rhein_module::commands::session_id;
use rhein_module::{Ctx, Iq};
use rhein_proto::commands::Command;
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use rhein_proto::{StanzaError, ns, time};
use rhein_storage::{Invite, InviteKind, NewInvite};
use std::sync::Arc;

/// `urn:xmpp:invite#invite`: completes at once with the invitation (§3.1).
pub(crate) async fn invite(m: Arc<Invites>, ctx: Ctx, iq: Iq<Command>) -> Result<Command, StanzaError> {
    let requester = iq.from.to_bare();
    let may_bring_accounts = m.config.get().registration != Registration::Closed
        && (m.config.get().users_may_invite || ctx.is_admin(&requester).await);
    let kind = if may_bring_accounts { InviteKind::User } else { InviteKind::Contact };
    let new = NewInvite {
        creator: Some(requester.to_string()),
        subscribe: true,
        valid_for_ms: m.valid_for_ms(),
        ..NewInvite::new(&ctx.host, kind)
    };
    let form = m.create(&ctx, &new).await?;
    let session = iq.payload.sessionid.unwrap_or_else(session_id);
    Ok(Command::completed(ns::INVITE_COMMAND, Some(session), Some(form)))
}

/// `urn:xmpp:invite#create-account`: the form first (§3.5), the invitation once it comes
/// back. A request that carries the filled form already completes at once.
pub(crate) async fn create_account(m: Arc<Invites>, ctx: Ctx, iq: Iq<Command>) -> Result<Command, StanzaError> {
    let node = ns::CREATE_ACCOUNT_COMMAND;
    let Some(submitted) = iq.payload.form.filter(|f| f.type_ == DataFormType::Submit) else {
        return Ok(Command::executing(node, session_id(), account_form()));
    };
    let value = |var: &str| {
        submitted.fields.iter().find(|f| f.var.as_deref() == Some(var)).and_then(|f| f.values.first()).cloned()
    };
    let username = match value("username").filter(|u| !u.trim().is_empty()) {
        None => None,
        Some(name) => Some(m.available_name(&ctx, &name).await?),
    };
    let subscribe = match value("roster-subscription").as_deref() {
        None => true,
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        Some(other) => {
            return Err(StanzaError::bad_request().with_text(format!("roster-subscription: {other:?} is no boolean")));
        }
    };
    let new = NewInvite {
        creator: Some(iq.from.to_bare().to_string()),
        username,
        subscribe,
        valid_for_ms: m.valid_for_ms(),
        ..NewInvite::new(&ctx.host, InviteKind::Account)
    };
    let form = m.create(&ctx, &new).await?;
    Ok(Command::completed(node, iq.payload.sessionid, Some(form)))
}

fn account_form() -> DataForm {
    let mut username = Field::new("username", FieldType::TextSingle);
    username.label = Some("Username (empty: the invitee chooses)".into());
    let mut subscription = Field::new("roster-subscription", FieldType::Boolean).with_value("1");
    subscription.label = Some("Add the new account to my contacts".into());
    let mut form = DataForm::new(DataFormType::Form, ns::INVITE_FORM, vec![username, subscription]);
    form.title = Some("Invite someone to create an account".into());
    form
}

impl Invites {
    /// Stores an invite and answers with its invitation form (§3.1: `uri`, `landing-url`
    /// where there is a landing page, `expire`).
    async fn create(&self, ctx: &Ctx, new: &NewInvite) -> Result<DataForm, StanzaError> {
        let (invite, token) = ctx.db.invites().create(new).await.map_err(rhein_module::storage_failure)?;
        tracing::info!(id = %invite.id, creator = ?invite.creator, kind = invite.kind.as_str(), "invite created");
        Ok(self.invitation(ctx, &invite, &token))
    }

    /// The result form of an invite just made.
    pub(crate) fn invitation(&self, ctx: &Ctx, invite: &Invite, token: &str) -> DataForm {
        let mut fields = vec![Field::text_single("uri", &links::uri(invite, token))];
        if let Some(origin) = self.landing_origin(ctx) {
            fields.push(Field::text_single("landing-url", &links::landing(&origin, token)));
        }
        fields.push(Field::text_single("expire", &time::datetime(invite.expires_at)));
        DataForm::new(DataFormType::Result_, ns::INVITE_FORM, fields)
    }

    /// Where landing pages are: configured, or the server's https listener.
    pub(crate) fn landing_origin(&self, ctx: &Ctx) -> Option<String> {
        self.config.get().landing_origin.clone().or_else(|| ctx.server.web_origin.get().cloned())
    }

    /// A username an account invite may reserve: valid, and neither taken nor reserved.
    async fn available_name(&self, ctx: &Ctx, name: &str) -> Result<String, StanzaError> {
        let user = crate::registration::localpart(&ctx.host, name)?;
        let taken = ctx.db.accounts().exists(&ctx.host, &user).await.map_err(rhein_module::storage_failure)?;
        if taken {
            return Err(StanzaError::conflict().with_text(format!("{user}@{} exists already", ctx.host)));
        }
        let reserved = ctx.db.invites().reserved(&ctx.host, &user).await.map_err(rhein_module::storage_failure)?;
        if reserved {
            return Err(StanzaError::conflict().with_text(format!("another invitation is for {user}")));
        }
        Ok(user)
    }
}
