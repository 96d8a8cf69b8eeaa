//! The XMPP side of publish-subscribe shared by every service on the engine
//! ([`rhein_pubsub`]): PEP on accounts, the generic service at `pubsub.HOST`, MIX. Forms,
//! notifications, the XEP-0060 errors and the items query are written once here; each
//! service decides who its nodes belong to and who hears of them.

mod events;
mod form;
mod items;
mod publish;
mod store;

pub use events::{event_element, item_element, items_event, notification, send_event};
pub use form::{NodeForm, SubOptionsForm, is_options_form};
pub use items::{ItemsQuery, items};
pub use publish::{Publication, data_form};
pub use store::{Owners, StoredNodes};

use rhein_proto::parsers::pubsub::{AffiliationAttribute, Subscription};
use rhein_proto::pubsub as ps;
use rhein_proto::{Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::{Affiliation, Denied, Error, SubOptions, SubState};

/// `<{condition} xmlns='…pubsub#errors'/>`.
pub fn pubsub_error(condition: &str) -> Element {
    Element::bare(condition, ns::PUBSUB_ERRORS)
}

/// XEP-0060 wants `<nodeid-required/>` when an operation names no node.
pub fn node_required() -> StanzaError {
    StanzaError::bad_request().with_app(pubsub_error("nodeid-required"))
}

/// The node an operation names.
pub fn node_of(node: Option<String>) -> Result<String, StanzaError> {
    node.filter(|n| !n.is_empty()).ok_or_else(node_required)
}

/// `feature-not-implemented` with the `<unsupported feature/>` XEP-0060 names.
pub fn unsupported(feature: &str) -> StanzaError {
    StanzaError::feature_not_implemented().with_app(xml::with_attr(pubsub_error("unsupported"), "feature", feature))
}

/// `<pubsub xmlns='{ns_}'>{child}</pubsub>`.
pub fn wrap(ns_: &str, child: Element) -> Element {
    let mut pubsub = Element::bare("pubsub", ns_);
    pubsub.append_child(child);
    pubsub
}

/// The stanza error XEP-0060 §6.1.3 and §6.5.9 prescribe for an access refusal.
pub fn denial(denied: Denied) -> StanzaError {
    match denied {
        Denied::Forbidden => StanzaError::forbidden(),
        Denied::PresenceSubscriptionRequired => {
            StanzaError::not_authorized().with_app(pubsub_error("presence-subscription-required"))
        }
        Denied::NotInRosterGroup => StanzaError::not_authorized().with_app(pubsub_error("not-in-roster-group")),
        Denied::ClosedNode => StanzaError::not_allowed().with_app(pubsub_error("closed-node")),
        Denied::NotSubscribed => StanzaError::not_authorized().with_app(pubsub_error("not-subscribed")),
    }
}

/// The stanza error XEP-0060 gives for an engine's refusal.
pub fn refusal(e: Error) -> StanzaError {
    match e {
        Error::NoSuchNode => StanzaError::item_not_found().with_text("no such node"),
        Error::NoSuchItem => StanzaError::item_not_found().with_text("no such item"),
        Error::NodeExists => StanzaError::conflict().with_text("the node exists"),
        Error::TooManyNodes => StanzaError::policy_violation().with_text("too many nodes"),
        Error::NotSubscribed => StanzaError::unexpected_request().with_app(pubsub_error("not-subscribed")),
        Error::InvalidSubid => StanzaError::not_acceptable().with_app(pubsub_error("invalid-subid")),
        Error::Denied(denied) => denial(denied),
        Error::Storage(_) => StanzaError::internal_server_error(),
        Error::Adapter(e) => match e.downcast::<StanzaError>() {
            Ok(e) => *e,
            Err(_) => StanzaError::internal_server_error(),
        },
    }
}

/// A stanza error as the engine passes an adapter's refusal back.
pub fn adapter(e: StanzaError) -> Error {
    Error::Adapter(Box::new(e))
}

/// The wire name of a subscription state.
pub fn wire_state(state: SubState) -> Subscription {
    match state {
        SubState::Pending => Subscription::Pending,
        SubState::Subscribed => Subscription::Subscribed,
    }
}

/// An affiliation as XEP-0060 writes it (`none` is not listed).
pub fn wire_affiliation(a: Affiliation) -> Option<AffiliationAttribute> {
    Some(match a {
        Affiliation::Owner => AffiliationAttribute::Owner,
        Affiliation::Publisher => AffiliationAttribute::Publisher,
        Affiliation::PublishOnly => AffiliationAttribute::PublishOnly,
        Affiliation::Member => AffiliationAttribute::Member,
        Affiliation::Outcast => AffiliationAttribute::Outcast,
        Affiliation::None => return None,
    })
}

/// An affiliation from its wire name.
pub fn affiliation_of(a: &AffiliationAttribute) -> Affiliation {
    match a {
        AffiliationAttribute::Owner => Affiliation::Owner,
        AffiliationAttribute::Publisher => Affiliation::Publisher,
        AffiliationAttribute::PublishOnly => Affiliation::PublishOnly,
        AffiliationAttribute::Member => Affiliation::Member,
        AffiliationAttribute::Outcast => Affiliation::Outcast,
        AffiliationAttribute::None => Affiliation::None,
    }
}

/// Whether `jid` is the requester's own address (its bare JID or one of its resources), as
/// a subscription request must name (`invalid-jid` otherwise, §6.1.3.1).
pub fn own_jid(from: &Jid, jid: &Jid) -> Result<(), StanzaError> {
    if jid.to_bare() == from.to_bare() {
        Ok(())
    } else {
        Err(StanzaError::bad_request().with_app(pubsub_error("invalid-jid")))
    }
}

/// `<pubsub><subscription node jid subid subscription/></pubsub>`: the answer to a
/// subscribe request (§6.1.2).
pub fn subscription_answer(node: String, jid: Jid, subscription: rhein_pubsub::Subscription) -> Element {
    let answer = ps::SubscriptionOf {
        node: Some(node),
        jid,
        subid: Some(subscription.subid),
        subscription: wire_state(subscription.state),
    };
    wrap(ns::PUBSUB, answer.into())
}

/// `<pubsub><options node jid subid>{form}</options></pubsub>` (§6.3.2).
pub fn options_answer(node: String, jid: Jid, subid: String, options: &SubOptions) -> Element {
    let form = Some(SubOptionsForm::to_form(options, "form"));
    wrap(ns::PUBSUB, ps::Options { node: Some(node), jid: Some(jid), subid: Some(subid), form }.into())
}

/// `<pubsub><default>{form}</default></pubsub>`: the default subscription options (§6.4).
pub fn default_options() -> Element {
    let mut default = Element::bare("default", ns::PUBSUB);
    default.append_child(SubOptionsForm::to_form(&SubOptions::default(), "form"));
    wrap(ns::PUBSUB, default)
}
