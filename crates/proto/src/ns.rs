//! Namespace constants. Every namespace Rhein speaks is named here, once.

pub const CLIENT: &str = "jabber:client";
pub const SERVER: &str = "jabber:server";
/// XEP-0114: the default namespace of an accepted component's stream.
pub const COMPONENT_ACCEPT: &str = "jabber:component:accept";
/// XEP-0220 server dialback, and its stream feature.
pub const DIALBACK: &str = "jabber:server:dialback";
pub const DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";
pub const STREAM: &str = "http://etherx.jabber.org/streams";
pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// XEP-0440 (1.0): the channel-binding types a server supports.
pub const SASL_CB: &str = "urn:xmpp:sasl-cb:0";
pub const ROSTER: &str = "jabber:iq:roster";
pub const ROSTER_VER: &str = "urn:xmpp:features:rosterver";
pub const PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";
pub const PING: &str = "urn:xmpp:ping";
pub const VERSION: &str = "jabber:iq:version";
pub const LAST: &str = "jabber:iq:last";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const DELAY: &str = "urn:xmpp:delay";
pub const OFFLINE: &str = "msgoffline";
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
pub const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
pub const CAPS: &str = "http://jabber.org/protocol/caps";
pub const DATA: &str = "jabber:x:data";
pub const RSM: &str = "http://jabber.org/protocol/rsm";
/// XEP-0280 Message Carbons.
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// XEP-0297 Stanza Forwarding.
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0334 Message Processing Hints.
pub const HINTS: &str = "urn:xmpp:hints";
/// XEP-0191 Blocking Command, and its error condition.
pub const BLOCKING: &str = "urn:xmpp:blocking";
pub const BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
/// XEP-0049 Private XML Storage.
pub const PRIVATE: &str = "jabber:iq:private";
/// XEP-0054 vcard-temp.
pub const VCARD: &str = "vcard-temp";
/// XEP-0313 Message Archive Management, and what Rhein adds to it.
pub const MAM: &str = "urn:xmpp:mam:2";
pub const MAM_EXTENDED: &str = "urn:xmpp:mam:2#extended";
/// XEP-0357 Push Notifications, and Rhein's opt-in to message bodies in them.
pub const PUSH: &str = "urn:xmpp:push:0";
pub const PUSH_BODY: &str = "https://rhein.chat/protocol/push:0";
pub const PUSH_SUMMARY: &str = "urn:xmpp:push:summary";
/// XEP-0215 External Service Discovery.
pub const EXTDISCO: &str = "urn:xmpp:extdisco:2";
