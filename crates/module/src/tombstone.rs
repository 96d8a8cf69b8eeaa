//! Tombstones (XEP-0424 §6, XEP-0425 §4, XEP-0407 §4) in any archive, an account's, a
//! room's or a channel's: a retracted message keeps its place and stanza id, so clients
//! syncing the archive learn that it existed, but its content gives way to a marker saying
//! that (and by whom, and when) it was retracted.

use crate::{Ctx, storage_failure};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
use rhein_storage::{ArchiveQuery, ArchiveRow, Page};

/// How many of a conversation's newest messages a retraction by message id reaches back:
/// message ids are not indexed, so they are read a page at a time, and retractions are of
/// recent messages.
pub const SEARCH_DEPTH: usize = 1000;
const SEARCH_PAGE: usize = 100;

/// A message as archived, and parsed.
#[derive(Debug, Clone)]
pub struct Archived {
    pub row: ArchiveRow,
    pub message: Element,
}

impl Archived {
    /// `None` for a stored stanza that does not parse (logged: it is a damaged row).
    fn read(row: ArchiveRow) -> Option<Self> {
        match row.stanza.parse::<Element>() {
            Ok(message) => Some(Self { row, message }),
            Err(e) => {
                tracing::warn!(stanza_id = %row.stanza_id, error = %e, "archived stanza does not parse");
                None
            }
        }
    }

    /// The bare JID of the message's `from`.
    pub fn sender(&self) -> Option<BareJid> {
        self.message.attr("from").and_then(|f| Jid::new(f).ok()).map(|j| j.to_bare())
    }

    /// Whether this is a tombstone already.
    pub fn is_tombstone(&self) -> bool {
        is_tombstone(&self.message)
    }
}

/// Whether an archived message is a tombstone (of XEP-0424/0425 or of XEP-0407).
pub fn is_tombstone(message: &Element) -> bool {
    message.get_child("retracted", ns::MESSAGE_RETRACT).is_some()
        || message.get_child("retracted", ns::MIX_MISC).is_some()
}

/// Children a tombstone keeps: they identify the message without saying anything it said.
fn identifies(child: &Element) -> bool {
    child.is("stanza-id", ns::STANZA_ID)
        || child.is("origin-id", ns::STANZA_ID)
        || child.is("occupant-id", ns::OCCUPANT_ID)
}

/// `original` reduced to its addresses, id, type and identifying children, with `marker`
/// in place of everything else (body, attachments, and whatever else could leak).
pub fn tombstone(original: &Element, marker: Element) -> Element {
    let mut t = Element::bare("message", ns::CLIENT);
    for attr in ["from", "to", "id", "type"] {
        if let Some(v) = original.attr(attr) {
            xml::set_attr(&mut t, attr, v);
        }
    }
    for child in original.children().filter(|c| identifies(c)) {
        t.append_child(child.clone());
    }
    t.append_child(marker);
    t
}

/// The message `stanza_id` of `owner`'s archive.
pub async fn by_stanza_id(ctx: &Ctx, owner: &str, stanza_id: &str) -> Result<Option<Archived>, StanzaError> {
    let row = ctx.db.archive().get(owner, stanza_id).await.map_err(storage_failure)?;
    Ok(row.and_then(Archived::read))
}

/// The newest message of `owner`'s conversation with `with` (at most [`SEARCH_DEPTH`] back)
/// whose `id` or XEP-0359 origin id is `id`, among those `authored` accepts: ids are chosen
/// by clients, so only the retracting author's own messages are candidates.
pub async fn by_message_id(
    ctx: &Ctx,
    owner: &str,
    with: &str,
    id: &str,
    authored: impl Fn(&Archived) -> bool,
) -> Result<Option<Archived>, StanzaError> {
    let mut page = Page::Last;
    for _ in 0..SEARCH_DEPTH / SEARCH_PAGE {
        let query = ArchiveQuery { with: Some(with.to_owned()), page, max: SEARCH_PAGE as i64, ..Default::default() };
        let Some(found) = ctx.db.archive().query(owner, &query).await.map_err(storage_failure)? else {
            return Ok(None);
        };
        let oldest = found.rows.first().map(|r| r.stanza_id.clone());
        // Only rows that mention the id are parsed.
        let mentioning = found.rows.into_iter().rev().filter(|row| row.stanza.contains(id));
        for archived in mentioning.filter_map(Archived::read) {
            if has_message_id(&archived.message, id) && authored(&archived) {
                return Ok(Some(archived));
            }
        }
        match oldest {
            Some(oldest) if !found.complete => page = Page::Before(oldest),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Whether the client named `message` `id` (its `id` attribute or its origin id).
fn has_message_id(message: &Element, id: &str) -> bool {
    message.attr("id") == Some(id)
        || message.children().any(|c| c.is("origin-id", ns::STANZA_ID) && c.attr("id") == Some(id))
}

/// Replaces `archived` in `owner`'s archive with its tombstone bearing `marker`.
pub async fn replace(ctx: &Ctx, owner: &str, archived: &Archived, marker: Element) -> Result<(), StanzaError> {
    let stone = xml::to_string(&tombstone(&archived.message, marker));
    ctx.db.archive().replace_stanza(owner, &archived.row.stanza_id, &stone).await.map_err(storage_failure)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_keeps_what_identifies_the_message_and_nothing_it_said() {
        let original: Element = "<message xmlns='jabber:client' from='a@x/r' to='b@x' id='m1' type='chat'>\
            <body>secret</body><origin-id xmlns='urn:xmpp:sid:0' id='m1'/>\
            <stanza-id xmlns='urn:xmpp:sid:0' id='s1' by='b@x'/><x xmlns='jabber:x:oob'><url>u</url></x></message>"
            .parse()
            .unwrap();
        let marker = Element::bare("retracted", ns::MESSAGE_RETRACT);
        let stone = tombstone(&original, marker);
        assert!(is_tombstone(&stone));
        assert_eq!(stone.attr("id"), Some("m1"));
        let kept: Vec<&str> = stone.children().map(Element::name).collect();
        assert_eq!(kept, ["origin-id", "stanza-id", "retracted"]);
        assert!(!xml::to_string(&stone).contains("secret"));
        assert!(has_message_id(&original, "m1") && !has_message_id(&original, "s1"));
    }
}
