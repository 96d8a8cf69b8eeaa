//! XEP-0398 §3.2: a vCard published with a photo publishes that photo as the account's PEP
//! avatar too (XEP-0084 data, then metadata, and their notifications), so clients that only
//! read PEP see avatars that clients writing only vCards set. The other direction (PEP to
//! vCard) is mod-basic's.

use crate::service::Pep;
use rhein_module::{Ctx, Flow, Stanza, storage_failure};
use rhein_proto::parsers::avatar::{Data, Info, Metadata};
use rhein_proto::parsers::hashes::Sha1HexAttribute;
use rhein_proto::parsers::vcard::VCard;
use rhein_proto::xml::StanzaKind;
use rhein_proto::{Element, StanzaError, ns, xml};
use rhein_storage::ItemRow;
use sha1::Digest;
use std::sync::Arc;

/// Whether a stanza is a vCard set (which carries, or not, a photo).
pub(crate) fn is_vcard_set(_: &Ctx, stanza: &Stanza) -> bool {
    stanza.kind == StanzaKind::Iq && stanza.stanza_type() == Some("set") && stanza.el.has_child("vCard", ns::VCARD)
}

/// Publishes the photo of an account's own vCard as its avatar, unless it is the avatar
/// already; the vCard set goes on to be stored as written.
pub(crate) async fn from_vcard(pep: Arc<Pep>, ctx: Ctx, stanza: Stanza) -> Result<Flow, StanzaError> {
    let owner = stanza.from.to_bare();
    let own = stanza.to.as_str() == owner.as_str() || stanza.to.as_str() == &*ctx.host;
    let photo = stanza
        .el
        .get_child("vCard", ns::VCARD)
        .filter(|_| own)
        .and_then(|v| VCard::try_from(v.clone()).ok())
        .and_then(|v| v.photo)
        .filter(|p| !p.binval.data.is_empty());
    let Some(photo) = photo else { return Ok(Flow::Continue(stanza)) };
    let bytes = photo.binval.data;
    let hex: String = sha1::Sha1::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let current = ctx.db.pubsub().items_by_id(owner.as_str(), ns::AVATAR_METADATA, std::slice::from_ref(&hex)).await;
    if !current.map_err(storage_failure)?.is_empty() {
        return Ok(Flow::Continue(stanza));
    }
    let Ok(id) = hex.parse::<Sha1HexAttribute>() else { return Ok(Flow::Continue(stanza)) };
    let info = Info {
        bytes: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        width: None,
        height: None,
        id,
        type_: Some(photo.type_.data).filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "image/png".into()),
        url: None,
    };
    let item =
        |payload: Element| ItemRow { id: hex.clone(), publisher: owner.to_string(), payload: xml::to_string(&payload) };
    // The vCard is stored whatever becomes of its copy as an avatar.
    let data = pep.publish(&ctx, &owner, ns::AVATAR_DATA, item(Data { data: bytes }.into()), None).await;
    let published = match data {
        Ok(()) => {
            pep.publish(&ctx, &owner, ns::AVATAR_METADATA, item(Metadata { infos: vec![info] }.into()), None).await
        }
        Err(e) => Err(e),
    };
    match published {
        Ok(()) => tracing::debug!(account = %owner, "vCard photo published as the PEP avatar"),
        Err(e) => tracing::warn!(account = %owner, error = ?e, "vCard photo not published as the PEP avatar"),
    }
    Ok(Flow::Continue(stanza))
}
