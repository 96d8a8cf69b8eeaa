//! Inviting people to a room by link (the XMPP sprint's easy MUC joining): the XEP-0401
//! invite command on a room, which answers with the room's `xmpp:` URI and landing page, and
//! XEP-0488 tokens, which let whoever joins with one become a member of a members-only room.
//! Tokens are invites in storage (`InviteKind::Room`): made, counted and revoked there.

use crate::room::{Affiliation, Room};
use crate::service::Muc;
use rhein_module::commands::session_id;
use rhein_module::{Ctx, Event, storage_failure};
use rhein_proto::commands::Command;
use rhein_proto::muc::{Revoke, Token, TokenRequest, Tokens};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field};
use rhein_proto::parsers::disco::{DiscoItemsResult, Item};
use rhein_proto::{BareJid, FullJid, Jid, StanzaError, ns, time};
use rhein_storage::{Invite, InviteKind, NewInvite};

/// How long a token lasts when the request names no limit, and at most (XEP-0488 §5: a
/// service enforces a reasonable maximum).
const DEFAULT_DELAY_SECS: u32 = 7 * 24 * 3600;
const MAX_DELAY_SECS: u32 = 365 * 24 * 3600;
/// Usable tokens one person may have for a room at once.
const MAX_TOKENS_EACH: usize = 50;
/// Uses of a token without a counter: as many as it meets before it expires.
const UNCOUNTED: u32 = i32::MAX as u32;

impl Muc {
    /// Whether `from` may invite people to `room`: in a members-only room its owners and
    /// admins (and members, when the service allows it); in an open room anyone in it or
    /// affiliated with it.
    pub(crate) fn may_invite(&self, room: &Room, from: &FullJid) -> bool {
        let affiliation = room.affiliation(&from.to_bare());
        if affiliation == Affiliation::Outcast {
            return false;
        }
        if room.config.members_only {
            let least = if self.config.get().members_may_invite { Affiliation::Member } else { Affiliation::Admin };
            affiliation >= least
        } else {
            affiliation >= Affiliation::Member || room.by_session(from).is_some()
        }
    }

    /// disco#items on the room's commands node: the invite command, for those who may.
    pub(crate) fn room_commands(&self, room: &Room, from: &FullJid) -> DiscoItemsResult {
        let items = match self.may_invite(room, from) {
            true => vec![Item {
                jid: Jid::from(room.jid.clone()),
                node: Some(ns::INVITE_COMMAND.to_owned()),
                name: Some("Invite someone".into()),
            }],
            false => Vec::new(),
        };
        DiscoItemsResult { node: Some(ns::COMMANDS.to_owned()), items, rsm: None }
    }

    /// `urn:xmpp:invite#invite` on a room: the link to it, with a single-use token for a
    /// members-only room.
    pub(crate) async fn invite_command(
        &self,
        ctx: &Ctx,
        room: &Room,
        from: &FullJid,
        command: Command,
    ) -> Result<Command, StanzaError> {
        if command.node != ns::INVITE_COMMAND {
            return Err(StanzaError::item_not_found().with_text("no such command"));
        }
        if !self.may_invite(room, from) {
            return Err(StanzaError::forbidden().with_text("you may not invite people to this room"));
        }
        let room_jid = room.jid.as_str();
        let (uri, token, expires) = if room.config.members_only {
            // One person per link; XEP-0488 requests make tokens for more.
            let once = TokenRequest { delay: None, counter: Some(1) };
            let (invite, token) = self.make_token(ctx, room, from, &once).await?;
            (format!("xmpp:{room_jid}?join;password={token}"), Some(token), Some(invite.expires_at))
        } else {
            (format!("xmpp:{room_jid}?join"), None, None)
        };
        let mut fields = vec![Field::text_single("uri", &uri)];
        if let Some(origin) = ctx.server.web_origin.get() {
            let landing = match &token {
                Some(token) => format!("{origin}/join/{room_jid}?token={token}"),
                None => format!("{origin}/join/{room_jid}"),
            };
            fields.push(Field::text_single("landing-url", &landing));
        }
        if let Some(expires) = expires {
            fields.push(Field::text_single("expire", &time::datetime(expires)));
        }
        let form = DataForm::new(DataFormType::Result_, ns::INVITE_FORM, fields);
        Ok(Command::completed(ns::INVITE_COMMAND, Some(command.sessionid.unwrap_or_else(session_id)), Some(form)))
    }

    /// XEP-0488 §2.2–§2.4: a token for the room, within the service's limits.
    pub(crate) async fn token_request(
        &self,
        ctx: &Ctx,
        room: &Room,
        from: &FullJid,
        request: TokenRequest,
    ) -> Result<Token, StanzaError> {
        if !self.may_invite(room, from) {
            return Err(StanzaError::forbidden().with_text("you may not invite people to this room"));
        }
        let (invite, token) = self.make_token(ctx, room, from, &request).await?;
        Ok(Token {
            delay: Some(granted_delay(&request)),
            counter: (invite.uses_left != UNCOUNTED).then_some(invite.uses_left),
            creator: None,
            value: token,
        })
    }

    async fn make_token(
        &self,
        ctx: &Ctx,
        room: &Room,
        from: &FullJid,
        request: &TokenRequest,
    ) -> Result<(Invite, String), StanzaError> {
        let mine = from.to_bare().to_string();
        let now = rhein_storage::now_ms();
        let outstanding = self
            .room_tokens(ctx, room)
            .await?
            .iter()
            .filter(|i| i.creator.as_deref() == Some(mine.as_str()) && i.refusal(now).is_none())
            .count();
        if outstanding >= MAX_TOKENS_EACH {
            return Err(StanzaError::resource_constraint()
                .with_text(format!("at most {MAX_TOKENS_EACH} usable tokens each: revoke some first")));
        }
        let delay = granted_delay(request);
        let new = NewInvite {
            creator: Some(from.to_bare().to_string()),
            valid_for_ms: i64::from(delay) * 1000,
            uses: request.counter.unwrap_or(UNCOUNTED).max(1),
            rooms: vec![room.jid.to_string()],
            ..NewInvite::new(&ctx.host, InviteKind::Room)
        };
        ctx.db.invites().create(&new).await.map_err(storage_failure)
    }

    /// XEP-0488 §2.5: the room's tokens still usable, each named by its id (the tokens
    /// themselves are not kept; an id revokes as well). Everyone who may invite sees their
    /// own; owners and admins see all.
    pub(crate) async fn token_list(&self, ctx: &Ctx, room: &Room, from: &FullJid) -> Result<Tokens, StanzaError> {
        if !self.may_invite(room, from) {
            return Err(StanzaError::forbidden().with_text("you may not invite people to this room"));
        }
        let me = from.to_bare().to_string();
        let sees_all = room.affiliation(&from.to_bare()) >= Affiliation::Admin;
        let now = rhein_storage::now_ms();
        let tokens = self
            .room_tokens(ctx, room)
            .await?
            .into_iter()
            .filter(|i| i.refusal(now).is_none() && (sees_all || i.creator.as_deref() == Some(me.as_str())))
            .map(|i| Token {
                delay: Some(delay_of(&i)),
                counter: (i.uses_left < UNCOUNTED).then_some(i.uses_left),
                creator: i.creator.clone(),
                value: i.id,
            })
            .collect();
        Ok(Tokens { tokens })
    }

    /// XEP-0488 §2.6: revokes a token (or the id a list named) of this room that `from` made,
    /// or any, for its owners and admins.
    pub(crate) async fn token_revoke(
        &self,
        ctx: &Ctx,
        room: &Room,
        from: &FullJid,
        revoke: Revoke,
    ) -> Result<(), StanzaError> {
        if !self.may_invite(room, from) {
            return Err(StanzaError::forbidden().with_text("you may not invite people to this room"));
        }
        let by_token = ctx.db.invites().find(&revoke.token).await.map_err(storage_failure)?;
        let invite = match by_token {
            Some(invite) => Some(invite),
            None => self.room_tokens(ctx, room).await?.into_iter().find(|i| i.id == revoke.token),
        };
        let me = from.to_bare().to_string();
        let allowed = room.affiliation(&from.to_bare()) >= Affiliation::Admin;
        let revocable = invite.filter(|i| {
            i.kind == InviteKind::Room
                && i.rooms.iter().any(|r| r == room.jid.as_str())
                && (allowed || i.creator.as_deref() == Some(me.as_str()))
        });
        let Some(invite) = revocable else { return Err(StanzaError::item_not_found()) };
        match ctx.db.invites().revoke(&invite.id).await.map_err(storage_failure)? {
            true => Ok(()),
            false => Err(StanzaError::item_not_found().with_text("revoked already")),
        }
    }

    async fn room_tokens(&self, ctx: &Ctx, room: &Room) -> Result<Vec<Invite>, StanzaError> {
        let all = ctx.db.invites().list(&ctx.host).await.map_err(storage_failure)?;
        Ok(all
            .into_iter()
            .filter(|i| i.kind == InviteKind::Room && i.rooms.iter().any(|r| r == room.jid.as_str()))
            .collect())
    }

    /// XEP-0488 §2.7: someone without an affiliation joining a members-only room with a token
    /// of it as the password becomes a member (one use of it). Affiliated users are let in as
    /// before and use nothing (§3); in an open room a token grants nothing (a member there
    /// would get the voice a moderator took). Whether the join goes on as a member.
    pub(crate) async fn redeem_token(
        &self,
        ctx: &Ctx,
        room: &mut Room,
        who: &BareJid,
        password: &str,
    ) -> Result<bool, StanzaError> {
        if password.is_empty() || !room.config.members_only || room.affiliation(who) != Affiliation::None {
            return Ok(false);
        }
        let for_room = |i: &Invite| i.kind == InviteKind::Room && i.rooms.iter().any(|r| r == room.jid.as_str());
        match ctx.db.invites().take(password, for_room).await.map_err(storage_failure)? {
            Ok(_) => {
                room.affiliations.insert(who.clone(), Affiliation::Member);
                self.save(ctx, room).await?;
                tracing::info!(room = %room.jid, %who, "made a member by an invitation token");
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }
}

impl Muc {
    /// `Event::Invited`: an account created through an invite becomes a member of the invite's
    /// rooms on this service (those that exist; none is made for it).
    pub(crate) async fn invited(self: std::sync::Arc<Self>, ctx: Ctx, event: Event) {
        let Event::Invited { account, rooms, .. } = event else { return };
        let domain = self.domain(&ctx);
        for jid in rooms.iter().filter(|r| r.domain().as_str() == domain) {
            let room_ref = match self.room(&ctx, jid).await {
                Ok(Some(room_ref)) => room_ref,
                Ok(None) => {
                    tracing::warn!(room = %jid, %account, "an invite names a room that does not exist");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(room = %jid, %account, error = ?e, "could not load an invite's room");
                    continue;
                }
            };
            let mut room = room_ref.lock().await;
            if room.affiliation(&account) == Affiliation::None {
                room.affiliations.insert(account.clone(), Affiliation::Member);
                if let Err(e) = self.save(&ctx, &room).await {
                    tracing::warn!(room = %jid, %account, error = ?e, "could not save an invited member");
                }
            }
        }
    }
}

/// How long a token requested with these limits lasts, in seconds.
fn granted_delay(request: &TokenRequest) -> u32 {
    request.delay.unwrap_or(DEFAULT_DELAY_SECS).clamp(1, MAX_DELAY_SECS)
}

/// Seconds an invite has left.
fn delay_of(invite: &Invite) -> u32 {
    let left = (invite.expires_at - rhein_storage::now_ms()).max(0) / 1000;
    u32::try_from(left).unwrap_or(u32::MAX)
}
