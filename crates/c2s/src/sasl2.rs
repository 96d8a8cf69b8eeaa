//! What follows a successful XEP-0388 SASL2 authentication, all in one round trip: inline
//! XEP-0198 resumption, XEP-0386 Bind2 (with what it enables inline, see `bind2`), and
//! XEP-0484 FAST tokens for the next login. No stream restart.

use crate::C2sShared;
use crate::auth;
use crate::bind2;
use crate::negotiate::{HandOver, Negotiation, Next, authenticated_features, bound_features};
use crate::request::Resume;
use crate::sm;
use base64::Engine;
use rhein_proto::sasl::Authenticate;
use rhein_proto::{BareJid, Element, ns, time, xml};
use rhein_sasl::HtMechanism;
use rhein_storage::now_ms;

/// How long a FAST token stays valid.
pub(crate) const TOKEN_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

impl Negotiation {
    pub(crate) async fn sasl2_success(
        &mut self,
        shared: &C2sShared,
        host: &str,
        localpart: &str,
        request: &Authenticate,
        additional: Option<Vec<u8>>,
        rotate: Option<HtMechanism>,
    ) -> Option<Next> {
        let owner = BareJid::new(&format!("{localpart}@{host}")).ok()?;
        let mut success = Element::bare("success", ns::SASL2);
        if let Some(d) = additional {
            success.append_child(auth::additional_data(&d));
        }
        let token = issue_token(shared, &owner, request, rotate).await;
        let finish = |mut success: Element, identity: &str, extra: Vec<Element>| {
            success.append_child(xml::text_el("authorization-identifier", ns::SASL2, identity));
            for e in extra.into_iter().chain(token.clone()) {
                success.append_child(e);
            }
            success
        };

        let mut results = Vec::new();
        if let Some(resume) = request.resume.clone() {
            let Resume { previd, h } = resume.into();
            let target = previd.and_then(|id| shared.resumable.find(&id, &owner));
            if let (Some(tx), Some(h)) = (target, h)
                && !tx.is_closed()
            {
                let success = finish(success, owner.as_str(), Vec::new());
                // The resumed session is bound, with stream management on.
                let features = bound_features(shared, true);
                return Some(Next::Resume(HandOver { tx, h, sasl2: Some((success, features)) }));
            }
            // XEP-0386: a failed resumption is reported, then binding goes ahead.
            results.push(sm::failed("item-not-found", None));
        }

        if let Some(bind) = &request.bind
            && let Some((binding, bound)) = bind2::bind(shared, host, localpart, bind).await
        {
            results.push(bound);
            let success = finish(success, binding.jid.as_str(), results);
            let mut out = xml::to_bytes(&success);
            out.extend(xml::to_bytes(&bound_features(shared, binding.sm.is_some())));
            if self.io.write(&out).await.is_err() {
                shared.router.unbind(&binding.jid, binding.session_id).await;
                return None;
            }
            return Some(Next::Bound(binding));
        }

        let success = finish(success, owner.as_str(), results);
        let mut out = xml::to_bytes(&success);
        out.extend(xml::to_bytes(&authenticated_features(shared)));
        self.io.write(&out).await.ok()?;
        // Authenticated, not bound: legacy binding (or resumption) comes next.
        Some(Next::Read)
    }
}

/// A new FAST token when the client asked for one (XEP-0484 §3.3) or the one it used is due
/// for rotation (§3.4), for its user-agent id.
async fn issue_token(
    shared: &C2sShared,
    owner: &BareJid,
    request: &Authenticate,
    rotate: Option<HtMechanism>,
) -> Option<Element> {
    let requested =
        request.request_token.as_ref().and_then(|r| r.mechanism.as_deref()).and_then(HtMechanism::from_name);
    let mech = requested.or(rotate)?;
    let client = auth::user_agent_id(request)?;
    let mut raw = [0u8; 32];
    rand::fill(&mut raw[..]);
    let token = base64::engine::general_purpose::STANDARD.encode(raw);
    let expiry = now_ms() + TOKEN_LIFETIME_MS;
    if let Err(e) = shared.db.fast_tokens().issue(owner.as_str(), client, mech.name(), &token, expiry).await {
        tracing::error!(error = %e, "storing a FAST token failed");
        return None;
    }
    let mut el = xml::with_attr(Element::bare("token", ns::FAST), "token", token);
    xml::set_attr(&mut el, "expiry", time::datetime(expiry));
    Some(el)
}
