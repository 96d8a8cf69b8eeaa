//! What goes into archives: chats and normal messages with a body, to and from the account,
//! each stamped with an XEP-0359 `<stanza-id/>` the recipient's server vouches for.

use crate::prefs::{self, PrefsCache};
use crate::retraction;
use crate::unread;
use rhein_module::{Ctx, Flow, Stanza, commits, storage_failure};
use rhein_proto::sid;
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::{ArchiveRow, Marks, now_ms};
use std::sync::Arc;
use std::time::Duration;

/// Messages worth keeping (XEP-0313 §5.1.1): chat and normal messages with a body, and
/// retractions, which an archive must keep even without their fallback body (XEP-0424 §7).
pub(crate) fn archivable(el: &Element) -> bool {
    el.name() == "message"
        && matches!(el.attr("type"), None | Some("chat" | "normal"))
        && (el.get_child("body", ns::CLIENT).is_some() || retraction::is_retraction(el))
        && el.get_child("no-store", ns::HINTS).is_none()
        && el.get_child("no-permanent-store", ns::HINTS).is_none()
}

async fn store(
    ctx: &Ctx,
    cache: &PrefsCache,
    owner: &BareJid,
    with: &BareJid,
    stanza_id: &str,
    el: &Element,
    marks: Option<Marks>,
) -> Result<(), StanzaError> {
    if !prefs::should_archive(ctx, cache, owner, with).await? {
        return Ok(());
    }
    let row = ArchiveRow {
        stanza_id: stanza_id.to_owned(),
        with_jid: with.to_string(),
        ts: now_ms(),
        stanza: xml::to_string(el),
    };
    // Queued for the group commit: a client's session waits for it before it counts the
    // stanza as handled, and reads its next stanza meanwhile (see `rhein_module::commits`).
    let committing = ctx.db.archive().queue_marked(owner.as_str(), &row, marks).await.map_err(storage_failure)?;
    commits::leave(committing).await.map_err(storage_failure)?;
    Ok(())
}

/// A message for a local account (one the filter found [`archivable`]): stamped with our
/// stanza id (replacing any claiming to be from us) and archived for the recipient.
pub(crate) async fn handle_inbound(ctx: Ctx, mut stanza: Stanza, cache: Arc<PrefsCache>) -> Result<Flow, StanzaError> {
    let (owner, with) = (stanza.to.to_bare(), stanza.from.to_bare());
    // A sender must not be able to forge ids in our name (XEP-0359 §5).
    sid::drop_claims(&mut stanza.el, owner.as_str());
    let id = xml::random_id();
    stanza.el.append_child(sid::stanza_id(&id, owner.as_str()));
    let marks = unread::inbound_marks(&owner, &stanza.el);
    store(&ctx, &cache, &owner, &with, &id, &stanza.el, marks).await?;
    retraction::apply(&ctx, &owner, &with, &stanza.from, &stanza.el).await?;
    Ok(Flow::Continue(stanza))
}

/// A message sent by a local session (one the filter found [`archivable`]): archived for the
/// sender.
pub(crate) async fn handle_outbound(ctx: Ctx, stanza: Stanza, cache: Arc<PrefsCache>) -> Result<Flow, StanzaError> {
    let (owner, with) = (stanza.from.to_bare(), stanza.to.to_bare());
    if owner != with {
        // A message to oneself is archived once, on the inbound side.
        store(&ctx, &cache, &owner, &with, &xml::random_id(), &stanza.el, unread::outbound_marks(&owner)).await?;
        retraction::apply(&ctx, &owner, &with, &owner.clone().into(), &stanza.el).await?;
    }
    Ok(Flow::Continue(stanza))
}

/// Deletes messages older than what `keep` says (read each hour: a reload may change it;
/// `None` keeps everything), hourly, for as long as the server runs.
pub(crate) async fn expire_forever(ctx: Ctx, keep: impl Fn() -> Option<Duration>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let Some(keep) = keep() else { continue };
        let cutoff = now_ms() - keep.as_millis() as i64;
        match ctx.db.archive().expire(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired archived messages"),
            Err(e) => tracing::warn!(error = %e, "archive expiry failed"),
        }
    }
}
