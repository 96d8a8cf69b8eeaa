//! Read positions of the unread overview (a Rhein extension, counted by
//! `rhein_storage::Unread`), moved by what the user's clients say they displayed: XEP-0490
//! states (mod-pep) and XEP-0333 markers (mod-mam). Both name a message by an id that a
//! different archive gave it for each kind of conversation; this is where that id is found,
//! so the two modules read it alike.

use crate::{Ctx, storage_failure, tombstone};
use rhein_proto::{BareJid, StanzaError};

/// `account` displayed the message of `conversation` whose XEP-0359 stanza id `by` gave is
/// `id`; moves the read position there unless it is further already. Whether it moved
/// (`false` too for a message not archived here).
///
/// The account's own ids are its archive's (chats, channels). A room's are the room's archive.
/// A MIX channel's messages are counted in the account's archive (XEP-0405), where the
/// channel's id is the message's `id`.
pub async fn displayed(
    ctx: &Ctx,
    account: &BareJid,
    conversation: &BareJid,
    by: &BareJid,
    id: &str,
) -> Result<bool, StanzaError> {
    let unread = ctx.db.unread();
    if by == account {
        return unread
            .displayed(account.as_str(), conversation.as_str(), account.as_str(), id)
            .await
            .map_err(storage_failure);
    }
    if by == conversation && in_channel(ctx, account, conversation).await? {
        return in_own_archive(ctx, account, conversation, id).await;
    }
    unread.displayed(account.as_str(), conversation.as_str(), by.as_str(), id).await.map_err(storage_failure)
}

/// An XEP-0333 `<displayed/>` marker `account` sent to `to` for the message `id`: a group
/// chat's marker names the room's (or channel's) id for it, a chat's the contact's own id.
pub async fn marker(
    ctx: &Ctx,
    account: &BareJid,
    to: &BareJid,
    groupchat: bool,
    id: &str,
) -> Result<bool, StanzaError> {
    if groupchat { displayed(ctx, account, to, to, id).await } else { in_own_archive(ctx, account, to, id).await }
}

/// Moves the position to the message `conversation` sent with id `id`, found among the newest
/// of the account's archive (message ids are not indexed; see `tombstone::by_message_id`).
async fn in_own_archive(ctx: &Ctx, account: &BareJid, conversation: &BareJid, id: &str) -> Result<bool, StanzaError> {
    let from_them = |m: &tombstone::Archived| m.sender().as_ref() == Some(conversation);
    let found = tombstone::by_message_id(ctx, account.as_str(), conversation.as_str(), id, from_them).await?;
    let Some(found) = found else { return Ok(false) };
    let unread = ctx.db.unread();
    unread
        .displayed(account.as_str(), conversation.as_str(), account.as_str(), &found.row.stanza_id)
        .await
        .map_err(storage_failure)
}

/// Whether `account` is in the MIX channel `jid` (as PAM records it).
async fn in_channel(ctx: &Ctx, account: &BareJid, jid: &BareJid) -> Result<bool, StanzaError> {
    let found = ctx.db.account_data().get(account.as_str(), rhein_storage::MIX_CHANNELS, jid.as_str()).await;
    Ok(found.map_err(storage_failure)?.is_some())
}
