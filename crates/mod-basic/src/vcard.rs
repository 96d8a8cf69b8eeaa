//! XEP-0054: vcard-temp — each account publishes one vCard; anyone may read it, only the
//! account may change it. XEP-0153: the account's available presence (broadcast and
//! directed, MUC joins included) carries the SHA-1 of its vCard photo, so contacts know when
//! to fetch a new avatar. XEP-0398: an avatar published with PEP (XEP-0084) becomes the
//! vCard photo, so clients that only read vCards see it too.

use crate::internal;
use rhein_module::{
    AccountCache, Ctx, Flow, Iq, IqKind, IqResult, Module, ModuleError, Registry, Stage, Stanza, Targets, own_request,
};
use rhein_proto::parsers::vcard::VCardQuery;
use rhein_proto::vcard::photo_hash;
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use std::sync::Arc;

/// The module, with each account's current photo hash (`None`: no photo).
pub(crate) struct Vcard {
    photo_hashes: Arc<AccountCache<Option<String>>>,
}

impl Default for Vcard {
    fn default() -> Self {
        Self { photo_hashes: Arc::new(AccountCache::new(crate::CACHED_ACCOUNTS)) }
    }
}

impl Module for Vcard {
    fn name(&self) -> &'static str {
        "vcard"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.feature(ns::VCARD);
        reg.account_feature(ns::VCARD);
        reg.forgets(self.photo_hashes.clone());
        reg.get(Targets::Account, handle_vcard_get)?;
        // The vCard itself is kept as the account wrote it: passed through, not typed.
        let this = self.clone();
        reg.iq(IqKind::Set, Targets::Account, ns::VCARD, "vCard", move |ctx, iq| {
            this.clone().handle_vcard_set(ctx, iq)
        })?;
        reg.account_feature(ns::PEP_VCARD_CONVERSION);
        let this = self.clone();
        // Before PEP stores the metadata: the data item it points to is already there.
        reg.stage_when(
            Stage::OutboundIq,
            20,
            |_, s| avatar_metadata(&s.el).is_some(),
            move |ctx, el| this.clone().handle_avatar_publish(ctx, el),
        );
        // Before the presence broadcast (priority 0) so every copy carries the hash.
        reg.stage(Stage::OutboundPresence, 10, move |ctx, el| self.clone().handle_presence(ctx, el));
        Ok(())
    }
}

async fn handle_vcard_get(ctx: Ctx, iq: Iq<VCardQuery>) -> IqResult {
    let owner = iq.account();
    let stored = ctx.db.account_data().get(owner.as_str(), "vcard", "").await.map_err(internal)?;
    // No vCard yet: an empty one (XEP-0054 §3.1).
    Ok(Some(stored.and_then(|s| s.parse().ok()).unwrap_or_else(|| Element::bare("vCard", ns::VCARD))))
}

impl Vcard {
    async fn handle_vcard_set(self: Arc<Self>, ctx: Ctx, iq: Stanza) -> IqResult {
        let owner = own_request(&iq)?.to_bare();
        let vcard = iq.el.get_child("vCard", ns::VCARD).ok_or_else(StanzaError::bad_request)?;
        self.store(&ctx, &owner, vcard).await?;
        Ok(None)
    }

    async fn store(&self, ctx: &Ctx, owner: &BareJid, vcard: &Element) -> Result<(), StanzaError> {
        ctx.db
            .account_data()
            .put_all(owner.as_str(), "vcard", &[(String::new(), xml::to_string(vcard))])
            .await
            .map_err(internal)?;
        self.photo_hashes.insert(owner.clone(), photo_hash(vcard));
        Ok(())
    }

    /// XEP-0398 §3.1: a publication to the avatar metadata node puts the image it points to
    /// (the first one stored in the data node) into the vCard's PHOTO; an empty metadata item
    /// (avatar disabled) removes the photo.
    async fn handle_avatar_publish(self: Arc<Self>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
        let owner = stanza.from.to_bare();
        let Some(metadata) = avatar_metadata(&stanza.el).filter(|_| stanza.to.as_str() == owner.as_str()) else {
            return Ok(Flow::Continue(stanza));
        };
        let mut photo = None;
        for info in metadata.children().filter(|i| i.name() == "info" && i.attr("url").is_none()) {
            let Some(id) = info.attr("id") else { continue };
            let stored = ctx
                .db
                .pubsub()
                .items_by_id(owner.as_str(), ns::AVATAR_DATA, &[id.to_owned()])
                .await
                .map_err(internal)?;
            let data = stored.first().and_then(|row| row.payload.parse::<Element>().ok());
            if let Some(data) = data.filter(|d| d.is("data", ns::AVATAR_DATA)) {
                photo = Some((info.attr("type").unwrap_or("image/png").to_owned(), data.text()));
                break;
            }
        }
        let stored = ctx.db.account_data().get(owner.as_str(), "vcard", "").await.map_err(internal)?;
        let mut vcard =
            stored.and_then(|s| s.parse::<Element>().ok()).unwrap_or_else(|| Element::bare("vCard", ns::VCARD));
        vcard.remove_child("PHOTO", ns::VCARD);
        if let Some((kind, binval)) = photo {
            let mut p = Element::bare("PHOTO", ns::VCARD);
            p.append_child(xml::text_el("TYPE", ns::VCARD, kind));
            p.append_child(xml::text_el("BINVAL", ns::VCARD, binval));
            vcard.append_child(p);
        }
        self.store(&ctx, &owner, &vcard).await?;
        Ok(Flow::Continue(stanza))
    }

    async fn hash_of(&self, ctx: &Ctx, owner: &BareJid) -> Result<Option<String>, StanzaError> {
        if let Some(h) = self.photo_hashes.get(owner) {
            return Ok(h);
        }
        let stored = ctx.db.account_data().get(owner.as_str(), "vcard", "").await.map_err(internal)?;
        let hash = stored.and_then(|s| s.parse::<Element>().ok()).and_then(|v| photo_hash(&v));
        self.photo_hashes.insert(owner.clone(), hash.clone());
        Ok(hash)
    }

    /// Adds `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>` to available presence,
    /// broadcast or directed (XEP-0398 §4), that does not carry one already (clients that
    /// manage it themselves keep theirs).
    async fn handle_presence(self: Arc<Self>, ctx: Ctx, mut stanza: Stanza) -> Result<Flow, StanzaError> {
        if stanza.stanza_type().is_some() || stanza.el.get_child("x", ns::VCARD_UPDATE).is_some() {
            return Ok(Flow::Continue(stanza));
        }
        let hash = self.hash_of(&ctx, &stanza.from.to_bare()).await?;
        let mut x = Element::bare("x", ns::VCARD_UPDATE);
        x.append_child(match hash {
            Some(h) => xml::text_el("photo", ns::VCARD_UPDATE, h),
            None => Element::bare("photo", ns::VCARD_UPDATE),
        });
        stanza.el.append_child(x);
        Ok(Flow::Continue(stanza))
    }
}

/// The `<metadata/>` of an IQ set publishing to the avatar metadata node, if it is one.
fn avatar_metadata(el: &Element) -> Option<&Element> {
    if el.name() != "iq" || el.attr("type") != Some("set") {
        return None;
    }
    let publish = el.get_child("pubsub", ns::PUBSUB)?.get_child("publish", ns::PUBSUB)?;
    if publish.attr("node") != Some(ns::AVATAR_METADATA) {
        return None;
    }
    publish.get_child("item", ns::PUBSUB)?.get_child("metadata", ns::AVATAR_METADATA)
}
