//! What follows a successful XEP-0388 SASL2 authentication, all in one round trip: inline
//! XEP-0198 resumption, XEP-0386 Bind2 (with carbons, stream management and CSI enabled
//! inline), and XEP-0484 FAST tokens for the next login. No stream restart.

use crate::C2sShared;
use crate::auth::{self, NS_FAST, NS_SASL2};
use crate::negotiate::{Binding, Negotiation, authenticated_features, bind_resource, bound_features, new_id};
use crate::sm::{self, Sm};
use base64::Engine;
use rhein_module::{Interest, RouterApi};
use rhein_proto::{BareJid, Element, time, xml};
use rhein_sasl::HtMechanism;
use rhein_storage::{ArchiveQuery, Page, now_ms};

pub(crate) const NS_BIND2: &str = "urn:xmpp:bind:0";
const NS_CARBONS: &str = "urn:xmpp:carbons:2";

/// How long a FAST token stays valid.
pub(crate) const TOKEN_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

/// Where the stream goes after `<success/>`.
pub(crate) enum Sasl2Next {
    /// Bind2 bound a resource (with what it enabled inline): the session loop takes over.
    Bound { binding: Binding, sm: Option<Sm>, resume_rx: Option<sm::ResumeRx>, inactive: bool },
    /// An earlier session is to be resumed: its task takes this connection, writing
    /// `success` (with `<resumed/>` added) and `features` itself.
    Resume { tx: sm::ResumeTx, h: u32, success: Element, features: Element },
    /// Authenticated, not bound: legacy binding (or resumption) comes next.
    Authenticated,
}

impl Negotiation {
    pub(crate) async fn sasl2_success(
        &mut self,
        shared: &C2sShared,
        host: &str,
        localpart: &str,
        request: &Element,
        additional: Option<Vec<u8>>,
        rotate: Option<HtMechanism>,
    ) -> Option<Sasl2Next> {
        let owner = BareJid::new(&format!("{localpart}@{host}")).ok()?;
        let mut success = Element::bare("success", NS_SASL2);
        if let Some(d) = additional {
            success.append_child(auth::additional_data(&d));
        }
        let token = issue_token(shared, &owner, request, rotate).await;
        let finish = |mut success: Element, identity: &str, extra: Vec<Element>| {
            success.append_child(xml::text_el("authorization-identifier", NS_SASL2, identity));
            for e in extra.into_iter().chain(token.clone()) {
                success.append_child(e);
            }
            success
        };

        let mut results = Vec::new();
        if let Some(resume) = request.get_child("resume", sm::NS) {
            let target = resume.attr("previd").and_then(|id| shared.resumable.find(id, &owner));
            if let (Some(tx), Some(h)) = (target, sm::h_of(resume))
                && !tx.is_closed()
            {
                let success = finish(success, owner.as_str(), Vec::new());
                // The resumed session is bound, with stream management on.
                let features = bound_features(shared, true);
                return Some(Sasl2Next::Resume { tx, h, success, features });
            }
            // XEP-0386: a failed resumption is reported, then binding goes ahead.
            results.push(sm::failed("item-not-found", None));
        }

        if let Some(bind) = request.get_child("bind", NS_BIND2) {
            let tag = bind.get_child("tag", NS_BIND2).map(|t| t.text()).filter(|t| !t.trim().is_empty());
            let resource = match tag {
                Some(tag) => format!("{}/{}", tag.trim(), new_id()),
                None => new_id(),
            };
            if let Ok(binding) = bind_resource(shared, host, localpart, &resource).await {
                let jid = binding.jid.clone();
                drop_archived_offline(shared, &owner).await;
                let mut bound_el = Element::bare("bound", NS_BIND2);
                if let Some(metadata) = archive_metadata(shared, &owner).await {
                    bound_el.append_child(metadata);
                }
                let mut sm_state = None;
                let mut resume_rx = None;
                if bind.get_child("enable", NS_CARBONS).is_some() {
                    shared.router.set_interest(&jid, Interest::Carbons, true);
                }
                if let Some(enable) = bind.get_child("enable", sm::NS) {
                    let (state, enabled, rx) = Sm::enable(enable, owner.clone(), shared);
                    bound_el.append_child(enabled);
                    sm_state = Some(state);
                    resume_rx = rx;
                }
                let inactive = bind.get_child("inactive", crate::csi::NS).is_some();
                results.push(bound_el);
                let success = finish(success, jid.as_str(), results);
                let mut out = xml::to_bytes(&success);
                out.extend(xml::to_bytes(&bound_features(shared, sm_state.is_some())));
                if self.io.write(&out).await.is_err() {
                    shared.router.unbind(&jid, binding.session_id).await;
                    return None;
                }
                return Some(Sasl2Next::Bound { binding, sm: sm_state, resume_rx, inactive });
            }
        }

        let success = finish(success, owner.as_str(), results);
        let mut out = xml::to_bytes(&success);
        out.extend(xml::to_bytes(&authenticated_features(shared)));
        self.io.write(&out).await.ok()?;
        Some(Sasl2Next::Authenticated)
    }
}

/// XEP-0386 §3: a Bind2 client gets its offline messages from the archive, so those the
/// archive holds (they carry the account's XEP-0359 stanza id) are dropped instead of sent.
/// Messages that were not archived stay and are delivered as usual.
async fn drop_archived_offline(shared: &C2sShared, owner: &BareJid) {
    let offline = shared.db.offline();
    let Ok(waiting) = offline.list(owner.as_str()).await else { return };
    for (id, message) in waiting {
        let archived = message.stanza.parse::<Element>().is_ok_and(|m| {
            m.children().any(|c| c.is("stanza-id", rhein_proto::ns::STANZA_ID) && c.attr("by") == Some(owner.as_str()))
        });
        if archived && let Err(e) = offline.remove(owner.as_str(), id).await {
            tracing::warn!(error = %e, "dropping an archived offline message failed");
        }
    }
}

/// XEP-0313 `<metadata/>` for `<bound/>`: the oldest and newest archived messages, so the client
/// knows what to fetch (XEP-0386 §3.2). `None` for an empty archive.
async fn archive_metadata(shared: &C2sShared, owner: &BareJid) -> Option<Element> {
    const NS_MAM: &str = "urn:xmpp:mam:2";
    let mut metadata = Element::bare("metadata", NS_MAM);
    for (name, page) in [("start", Page::First), ("end", Page::Last)] {
        let q = ArchiveQuery { page, max: 1, ..ArchiveQuery::default() };
        let row = shared.db.archive().query(owner.as_str(), &q).await.ok()??.rows.pop()?;
        let mut el = xml::with_attr(Element::bare(name, NS_MAM), "id", row.stanza_id);
        xml::set_attr(&mut el, "timestamp", time::datetime(row.ts));
        metadata.append_child(el);
    }
    Some(metadata)
}

/// A new FAST token when the client asked for one (XEP-0484 §3.3) or the one it used is due
/// for rotation (§3.4), for its user-agent id.
async fn issue_token(
    shared: &C2sShared,
    owner: &BareJid,
    request: &Element,
    rotate: Option<HtMechanism>,
) -> Option<Element> {
    let requested =
        request.get_child("request-token", NS_FAST).and_then(|r| r.attr("mechanism")).and_then(HtMechanism::from_name);
    let mech = requested.or(rotate)?;
    let client = auth::user_agent_id(request)?;
    let mut raw = [0u8; 32];
    rand::fill(&mut raw[..]);
    let token = base64::engine::general_purpose::STANDARD.encode(raw);
    let expiry = now_ms() + TOKEN_LIFETIME_MS;
    if let Err(e) = shared.db.fast_tokens().issue(owner.as_str(), &client, mech.name(), &token, expiry).await {
        tracing::error!(error = %e, "storing a FAST token failed");
        return None;
    }
    let mut el = xml::with_attr(Element::bare("token", NS_FAST), "token", token);
    xml::set_attr(&mut el, "expiry", time::datetime(expiry));
    Some(el)
}
