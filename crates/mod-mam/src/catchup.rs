//! XEP-0386 §3: a client that binds with Bind2 catches up from the archive, not from offline
//! storage. Offline messages the archive holds are dropped instead of sent, and `<bound/>`
//! says where the archive starts and ends (XEP-0313 `<metadata/>`), so the client knows what
//! to fetch.

use rhein_module::Ctx;
use rhein_proto::{BareJid, Element, FullJid, ns, time, xml};
use rhein_storage::{ArchiveQuery, Page};

/// Runs for every session Bind2 binds; the `<metadata/>` for `<bound/>`.
pub(crate) async fn on_bind2(ctx: Ctx, jid: FullJid) -> Option<Element> {
    let owner = jid.to_bare();
    drop_archived_offline(&ctx, &owner).await;
    metadata(&ctx, &owner).await
}

/// Drops the offline messages the archive holds (they carry the account's XEP-0359 stanza
/// id). Messages that were not archived stay and are delivered as usual.
async fn drop_archived_offline(ctx: &Ctx, owner: &BareJid) {
    let offline = ctx.db.offline();
    let Ok(waiting) = offline.list(owner.as_str()).await else { return };
    for (id, message) in waiting {
        let archived = message.stanza.parse::<Element>().is_ok_and(|m| {
            m.children().any(|c| c.is("stanza-id", ns::STANZA_ID) && c.attr("by") == Some(owner.as_str()))
        });
        if archived && let Err(e) = offline.remove(owner.as_str(), id).await {
            tracing::warn!(error = %e, "dropping an archived offline message failed");
        }
    }
}

/// The oldest and newest archived messages; `None` for an empty archive.
async fn metadata(ctx: &Ctx, owner: &BareJid) -> Option<Element> {
    let mut metadata = Element::bare("metadata", ns::MAM);
    for (name, page) in [("start", Page::First), ("end", Page::Last)] {
        let q = ArchiveQuery { page, max: 1, ..ArchiveQuery::default() };
        let row = ctx.db.archive().query(owner.as_str(), &q).await.ok()??.rows.pop()?;
        let mut el = xml::with_attr(Element::bare(name, ns::MAM), "id", row.stanza_id);
        xml::set_attr(&mut el, "timestamp", time::datetime(row.ts));
        metadata.append_child(el);
    }
    Some(metadata)
}
