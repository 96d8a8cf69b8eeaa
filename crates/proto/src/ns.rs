//! Namespace constants. Every namespace Rhein speaks is named here, once.

pub const CLIENT: &str = "jabber:client";
pub const SERVER: &str = "jabber:server";
/// XEP-0114: the default namespace of an accepted component's stream.
pub const COMPONENT_ACCEPT: &str = "jabber:component:accept";
/// XEP-0220 server dialback, and its stream feature.
pub const DIALBACK: &str = "jabber:server:dialback";
pub const DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";
/// XEP-0288 Bidirectional Server-to-Server Connections, and its stream feature.
pub const BIDI: &str = "urn:xmpp:bidi";
pub const BIDI_FEATURE: &str = "urn:xmpp:features:bidi";
pub const STREAM: &str = "http://etherx.jabber.org/streams";
pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// XEP-0440 (1.0): the channel-binding types a server supports.
pub const SASL_CB: &str = "urn:xmpp:sasl-cb:0";
/// RFC 7395 XMPP over WebSocket: the `<open/>` and `<close/>` framing elements.
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// XEP-0124 BOSH, and XEP-0206's XMPP attributes on its `<body/>`.
pub const BOSH: &str = "http://jabber.org/protocol/httpbind";
pub const XBOSH: &str = "urn:xmpp:xbosh";
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
/// Namespaces in XML 1.0 §3: the namespace of namespace declarations (bound to no prefix).
pub const XMLNS: &str = "http://www.w3.org/2000/xmlns/";
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
/// XEP-0085 Chat State Notifications.
pub const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
/// XEP-0359 Unique and Stable Stanza IDs.
pub const STANZA_ID: &str = "urn:xmpp:sid:0";
/// XEP-0372 References.
pub const REFERENCE: &str = "urn:xmpp:reference:0";
/// XEP-0191 Blocking Command, and its error condition.
pub const BLOCKING: &str = "urn:xmpp:blocking";
pub const BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
/// XEP-0049 Private XML Storage.
pub const PRIVATE: &str = "jabber:iq:private";
/// XEP-0402 PEP Native Bookmarks: its node, and the namespace of its items.
pub const BOOKMARKS: &str = "urn:xmpp:bookmarks:1";
/// XEP-0048 bookmarks as private XML storage keeps them (the legacy side of XEP-0411).
pub const BOOKMARKS_LEGACY: &str = "storage:bookmarks";
/// XEP-0054 vcard-temp.
pub const VCARD: &str = "vcard-temp";
/// XEP-0153 vCard-Based Avatars: the photo hash in presence.
pub const VCARD_UPDATE: &str = "vcard-temp:x:update";
/// XEP-0398 User Avatar to vCard-Based Avatars Conversion.
pub const PEP_VCARD_CONVERSION: &str = "urn:xmpp:pep-vcard-conversion:0";
/// XEP-0084 User Avatar: each of its PEP nodes (MIX channels have them too) is named after the
/// namespace of its items.
pub const AVATAR_DATA: &str = "urn:xmpp:avatar:data";
pub const AVATAR_METADATA: &str = "urn:xmpp:avatar:metadata";
/// XEP-0313 Message Archive Management, and what Rhein adds to it.
pub const MAM: &str = "urn:xmpp:mam:2";
pub const MAM_EXTENDED: &str = "urn:xmpp:mam:2#extended";
/// XEP-0357 Push Notifications, and Rhein's opt-in to message bodies in them.
pub const PUSH: &str = "urn:xmpp:push:0";
pub const PUSH_BODY: &str = "https://rhein.chat/protocol/push:0";
pub const PUSH_SUMMARY: &str = "urn:xmpp:push:summary";
/// XEP-0215 External Service Discovery.
pub const EXTDISCO: &str = "urn:xmpp:extdisco:2";
/// XEP-0363 HTTP File Upload.
pub const HTTP_UPLOAD: &str = "urn:xmpp:http:upload:0";
pub const BYTESTREAMS: &str = "http://jabber.org/protocol/bytestreams";
/// XEP-0317: hats in presence, and the room commands that manage them (their FORM_TYPE too).
pub const HATS: &str = "urn:xmpp:hats:0";
pub const HATS_COMMANDS: &str = "urn:xmpp:hats:commands";
/// XEP-0077 In-Band Registration (of an account, or of a nickname in a room), and its stream
/// feature.
pub const REGISTER: &str = "jabber:iq:register";
pub const REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
/// XEP-0050 Ad-Hoc Commands.
pub const COMMANDS: &str = "http://jabber.org/protocol/commands";
/// XEP-0379 Pre-Authenticated Roster Subscription (its `<preauth/>` also carries XEP-0445's
/// registration token), and XEP-0445's stream feature.
pub const PARS: &str = "urn:xmpp:pars:0";
pub const IBR_TOKEN: &str = "urn:xmpp:ibr-token:0";
/// XEP-0401 Easy User Onboarding: the FORM_TYPE of an invitation, and its two commands.
pub const INVITE_FORM: &str = "urn:xmpp:invite#invitation";
pub const INVITE_COMMAND: &str = "urn:xmpp:invite#invite";
pub const CREATE_ACCOUNT_COMMAND: &str = "urn:xmpp:invite#create-account";
/// XEP-0488 MUC Token Invite.
pub const MUC_TOKEN_INVITE: &str = "urn:xmpp:muc-token-invite:0";
/// XEP-0045 Multi-User Chat.
pub const MUC: &str = "http://jabber.org/protocol/muc";
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0421 Anonymous unique occupant identifiers.
pub const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
/// XEP-0424 Message Retraction, and the feature of archives that keep tombstones.
pub const MESSAGE_RETRACT: &str = "urn:xmpp:message-retract:1";
pub const MESSAGE_RETRACT_TOMBSTONE: &str = "urn:xmpp:message-retract:1#tombstone";
/// XEP-0425 Moderated Message Retraction.
pub const MESSAGE_MODERATE: &str = "urn:xmpp:message-moderate:1";
/// XEP-0452 MUC Mention Notifications.
pub const MUC_MENTIONS: &str = "urn:xmpp:mmn:0";
/// Rhein's push registrations in rooms (see the README).
pub const MUC_PUSH: &str = "https://rhein.chat/protocol/muc-push:0";
/// XEP-0369 MIX core, XEP-0405 participant-server (PAM) and its roster items, XEP-0403
/// presence, XEP-0406 administration, XEP-0404 JID hidden channels, XEP-0407 miscellaneous.
pub const MIX_CORE: &str = "urn:xmpp:mix:core:1";
pub const MIX_PAM: &str = "urn:xmpp:mix:pam:2";
pub const MIX_ROSTER: &str = "urn:xmpp:mix:roster:0";
pub const MIX_PRESENCE: &str = "urn:xmpp:mix:presence:0";
pub const MIX_ADMIN: &str = "urn:xmpp:mix:admin:0";
pub const MIX_ANON: &str = "urn:xmpp:mix:anon:0";
pub const MIX_MISC: &str = "urn:xmpp:mix:misc:0";
/// XEP-0283 Moved: the PEP node of the statement, and the namespace of its payloads.
pub const MOVED: &str = "urn:xmpp:moved:1";
/// Rhein's open-conversations list: its PEP node, and the namespace of its items (see the README).
pub const OPEN_CONVERSATIONS: &str = "https://rhein.chat/protocol/open-conversations:0";
/// XEP-0490: the PEP node of displayed states, and the server's assist in filling it.
pub const MDS_DISPLAYED: &str = "urn:xmpp:mds:displayed:0";
pub const MDS_SERVER_ASSIST: &str = "urn:xmpp:mds:server-assist:0";
/// Rhein's unread overview: counts of unread messages and mentions per open conversation, by
/// IQ and inline in Bind2 (see the README).
pub const UNREAD: &str = "https://rhein.chat/protocol/unread:0";
/// XEP-0333 Displayed Markers (chat markers).
pub const CHAT_MARKERS: &str = "urn:xmpp:chat-markers:0";
/// XEP-0085 Chat State Notifications.
pub const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// XEP-0388 Extensible SASL Profile, XEP-0386 Bind 2, XEP-0484 FAST.
pub const SASL2: &str = "urn:xmpp:sasl:2";
pub const BIND2: &str = "urn:xmpp:bind:0";
pub const FAST: &str = "urn:xmpp:fast:0";
/// XEP-0480 SASL upgrade tasks: the tasks offered and asked for, and the SCRAM task's data.
pub const SASL_UPGRADE: &str = "urn:xmpp:sasl:upgrade:0";
pub const SCRAM_UPGRADE: &str = "urn:xmpp:scram-upgrade:0";
/// XEP-0198 Stream Management.
pub const SM: &str = "urn:xmpp:sm:3";
/// XEP-0352 Client State Indication.
pub const CSI: &str = "urn:xmpp:csi:0";

/// XEP-0016 privacy lists (read from other servers' exports only).
pub const PRIVACY: &str = "jabber:iq:privacy";
/// XEP-0227 Portable Import/Export Format, its SCRAM credentials and message archives.
pub const PIE: &str = "urn:xmpp:pie:0";
pub const PIE_SCRAM: &str = "urn:xmpp:pie:0#scram";
pub const PIE_MAM: &str = "urn:xmpp:pie:0#mam";
/// What Rhein's exports carry beyond XEP-0227 (see the README).
pub const RHEIN_PIE: &str = "https://rhein.chat/protocol/pie:0";
