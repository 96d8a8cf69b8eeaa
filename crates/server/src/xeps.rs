//! The XEPs Rhein implements, with the version implemented: the one list the README table and
//! the DOAP file (`rhein doap`, committed as doap.xml) are generated from; tests keep both true.

/// One supported specification.
pub struct Supported {
    pub xep: u16,
    pub name: &'static str,
    pub version: &'static str,
    /// `complete` or `partial` (DOAP's vocabulary).
    pub status: &'static str,
    pub note: &'static str,
    /// Where the implementation lives (a file or a crate), from the repository root.
    pub code: &'static str,
}

const fn x(
    xep: u16,
    name: &'static str,
    version: &'static str,
    status: &'static str,
    note: &'static str,
    code: &'static str,
) -> Supported {
    Supported { xep, name, version, status, note, code }
}

pub const SUPPORTED: &[Supported] = &[
    x(4, "Data Forms", "2.13.2", "partial", "forms in MAM, push, contact addresses", "crates/proto/src/form.rs"),
    x(12, "Last Activity", "2.0", "complete", "server uptime and accounts", "crates/mod-basic/src/last.rs"),
    x(30, "Service Discovery", "2.5.0", "complete", "server and accounts", "crates/mod-basic/src/disco.rs"),
    x(
        45,
        "Multi-User Chat",
        "1.35.5",
        "complete",
        "every service use case; MAM, push by token and avatars on rooms",
        "crates/mod-muc",
    ),
    x(49, "Private XML Storage", "1.2", "complete", "", "crates/mod-basic/src/private.rs"),
    x(
        50,
        "Ad-Hoc Commands",
        "1.3.0",
        "complete",
        "server commands in one step or in stages with sessions (execute, next, prev, complete, cancel)",
        "crates/module/src/commands",
    ),
    x(54, "vcard-temp", "1.3.0", "complete", "", "crates/mod-basic/src/vcard.rs"),
    x(
        59,
        "Result Set Management",
        "1.0",
        "partial",
        "MAM, PEP and pubsub paging (before/after/max/count)",
        "crates/module/src/archive.rs",
    ),
    x(
        60,
        "Publish-Subscribe",
        "1.30.0",
        "complete",
        "pubsub.<host> and PEP on one engine; no collection nodes, no digests",
        "crates/pubsub",
    ),
    x(
        65,
        "SOCKS5 Bytestreams",
        "1.8.2",
        "partial",
        "the proxy (module proxy65, opt-in): mediated TCP transfers, per-account limits; no UDP",
        "crates/mod-proxy65",
    ),
    x(
        77,
        "In-Band Registration",
        "2.4",
        "complete",
        "accounts: by invite (default), open (throttled) or closed; password change, removal",
        "crates/mod-invites/src/registration.rs",
    ),
    x(82, "XMPP Date and Time Profiles", "1.1.1", "complete", "", "crates/proto/src/time.rs"),
    x(92, "Software Version", "1.1", "complete", "", "crates/mod-basic/src/version.rs"),
    x(
        114,
        "Jabber Component Protocol",
        "1.6",
        "complete",
        "accept role; one connection per component domain",
        "crates/s2s/src/component.rs",
    ),
    x(
        115,
        "Entity Capabilities",
        "1.6.0",
        "complete",
        "the server's own; clients' verified, one cache for PEP and MIX",
        "crates/module/src/caps.rs",
    ),
    x(
        124,
        "Bidirectional-streams Over Synchronous HTTP (BOSH)",
        "1.11.2",
        "complete",
        "hold 1, requests 2",
        "crates/web/src/bosh.rs",
    ),
    x(
        153,
        "vCard-Based Avatars",
        "1.1",
        "complete",
        "photo hash added to broadcast presence",
        "crates/mod-basic/src/vcard.rs",
    ),
    x(
        156,
        "Discovering Alternative XMPP Connection Methods",
        "1.4.0",
        "complete",
        "host-meta and host-meta.json, with CORS",
        "crates/web/src/discovery.rs",
    ),
    x(
        133,
        "Service Administration",
        "1.3.1",
        "partial",
        "users (add, delete, disable, re-enable, password, sessions, roster, last login, statistics), registered/disabled/online/active/idle lists and counts, announce, MOTD; not: black/whitelists, admin list, restart, passwords (never stored)",
        "crates/mod-admin",
    ),
    x(157, "Contact Addresses for XMPP Services", "1.1.1", "complete", "", "crates/mod-basic/src/contact.rs"),
    x(160, "Best Practices for Handling Offline Messages", "1.0.1", "complete", "", "crates/mod-im/src/offline.rs"),
    x(
        163,
        "Personal Eventing Protocol",
        "1.2.2",
        "complete",
        "retraction and deletion notified by default",
        "crates/mod-pep",
    ),
    x(191, "Blocking Command", "1.3", "complete", "", "crates/mod-basic/src/blocking.rs"),
    x(198, "Stream Management", "1.6.3", "complete", "acks and resumption", "crates/c2s/src/sm.rs"),
    x(199, "XMPP Ping", "2.0.1", "complete", "", "crates/mod-basic/src/ping.rs"),
    x(203, "Delayed Delivery", "2.0", "complete", "", "crates/mod-im/src/offline.rs"),
    x(206, "XMPP Over BOSH", "1.4", "complete", "", "crates/web/src/bosh.rs"),
    x(
        215,
        "External Service Discovery",
        "1.0.0",
        "complete",
        "TURN REST credentials",
        "crates/mod-basic/src/extdisco.rs",
    ),
    x(
        220,
        "Server Dialback",
        "1.1.1",
        "complete",
        "with dialback errors; keys are HMAC-SHA256 (XEP-0185)",
        "crates/s2s/src/dialback.rs",
    ),
    x(223, "Persistent Storage of Private Data via PubSub", "1.1.1", "complete", "", "crates/mod-pep/src/config.rs"),
    x(
        227,
        "Portable Import/Export Format for XMPP-IM Servers",
        "1.1",
        "partial",
        "rhein export and rhein import (XInclude of hosts and users read), with Rhein's additions (rooms, channels, argon2); privacy lists read as blocks only",
        "crates/server/src/pie",
    ),
    x(237, "Roster Versioning", "1.3", "complete", "", "crates/mod-im/src/roster.rs"),
    x(280, "Message Carbons", "1.0.1", "complete", "", "crates/mod-basic/src/carbons.rs"),
    x(283, "Moved", "0.2.0", "complete", "server-side processing of moved notifications", "crates/mod-im/src/moved.rs"),
    x(288, "Bidirectional Server-to-Server Connections", "1.0.1", "complete", "", "crates/s2s/src/inbound.rs"),
    x(297, "Stanza Forwarding", "1.0", "complete", "", "crates/module/src/archive.rs"),
    x(313, "Message Archive Management", "1.1.3", "complete", "accounts and rooms", "crates/module/src/archive.rs"),
    x(
        317,
        "Hats",
        "0.3.1",
        "complete",
        "in MUC: owners create, destroy and assign by the room's commands; worn in presence; lists for occupants",
        "crates/mod-muc/src/hats.rs",
    ),
    x(
        333,
        "Displayed Markers",
        "1.0.0",
        "partial",
        "clients exchange them; the user's own displayed markers move the unread overview's read positions",
        "crates/module/src/unread.rs",
    ),
    x(334, "Message Processing Hints", "1.0.0", "complete", "", "crates/mod-im/src/offline.rs"),
    x(352, "Client State Indication", "1.0.0", "complete", "", "crates/c2s/src/csi.rs"),
    x(
        357,
        "Push Notifications",
        "0.4.1",
        "complete",
        "accounts; app servers local, remote or components",
        "crates/mod-push",
    ),
    x(359, "Unique and Stable Stanza IDs", "0.7.0", "complete", "stanza-id", "crates/proto/src/sid.rs"),
    x(363, "HTTP File Upload", "1.2.0", "complete", "size limit, per-user quota, expiry", "crates/mod-upload"),
    x(
        368,
        "SRV records for XMPP over TLS",
        "1.1.0",
        "complete",
        "c2s and s2s listeners with ALPN; s2s SRV lookups",
        "crates/s2s/src/resolve.rs",
    ),
    x(
        369,
        "Mediated Information eXchange (MIX)",
        "0.14.6",
        "complete",
        "channels.<host>: create (named, ad hoc), join, leave, nicks, subscriptions, messages, MAM",
        "crates/mod-mix",
    ),
    x(
        372,
        "References",
        "0.5.0",
        "partial",
        "mentions, counted in the unread overview and in room push and mention notifications",
        "crates/proto/src/reference.rs",
    ),
    x(
        379,
        "Pre-Authenticated Roster Subscription",
        "0.3.3",
        "complete",
        "a request with a token of the contact's invite is approved and asked back",
        "crates/mod-im/src/invited.rs",
    ),
    x(
        386,
        "Bind 2",
        "1.1.0",
        "complete",
        "carbons, SM, CSI and the unread overview inline; MAM metadata",
        "crates/c2s/src/sasl2.rs",
    ),
    x(388, "Extensible SASL Profile", "1.0.4", "complete", "", "crates/c2s/src/auth.rs"),
    x(
        398,
        "User Avatar to vCard-Based Avatars Conversion",
        "1.0.0",
        "complete",
        "PEP to vCard, vCard to PEP (crates/mod-pep/src/avatar.rs), and the hash in every available presence",
        "crates/mod-basic/src/vcard.rs",
    ),
    x(
        401,
        "Ad-hoc Account Invitation Generation",
        "0.6.0",
        "complete",
        "invite and create-account commands; the new account and its inviter become contacts",
        "crates/mod-invites/src/commands.rs",
    ),
    x(402, "PEP Native Bookmarks", "1.2.0", "complete", "", "crates/mod-pep/src/bookmarks.rs"),
    x(
        403,
        "MIX: Presence Support",
        "0.3.2",
        "complete",
        "encoded participant JIDs; presence node readable",
        "crates/mod-mix/src/presence.rs",
    ),
    x(
        404,
        "MIX: JID Hidden Channels",
        "0.3.1",
        "complete",
        "visible, hidden or maybe-visible channels; JID map; user preferences; private messages and IQs through encoded JIDs (never to an account: no vCard through the channel)",
        "crates/mod-mix/src/channel.rs",
    ),
    x(
        405,
        "MIX: Participant Server Requirements",
        "0.5.3",
        "complete",
        "client-join/leave, roster annotation, #archive",
        "crates/mod-im/src/pam.rs",
    ),
    x(
        406,
        "MIX: MIX Administration",
        "0.3.1",
        "complete",
        "configuration, information, allowed and banned nodes",
        "crates/mod-mix/src/nodes.rs",
    ),
    x(
        407,
        "MIX: Miscellaneous Capabilities",
        "0.1.2",
        "partial",
        "nick registration, invitations, retraction with tombstones, avatar nodes",
        "crates/mod-mix/src/misc.rs",
    ),
    x(410, "MUC Self-Ping (Schrödinger's Chat)", "1.1.0", "complete", "", "crates/mod-muc/src/relay.rs"),
    x(
        411,
        "Bookmarks Conversion",
        "1.0.0",
        "complete",
        "private XML served from the PEP node",
        "crates/mod-pep/src/bookmarks.rs",
    ),
    x(
        421,
        "Occupant identifiers for semi-anonymous MUCs",
        "1.0.1",
        "complete",
        "salted per room",
        "crates/mod-muc/src/room.rs",
    ),
    x(
        424,
        "Message Retraction",
        "0.4.2",
        "complete",
        "tombstones in both parties' archives and in rooms; history skips retracted messages",
        "crates/module/src/tombstone.rs",
    ),
    x(
        425,
        "Moderated Message Retraction",
        "0.3.0",
        "complete",
        "message-moderate:1 in rooms, with reason; tombstones in the room archive",
        "crates/mod-muc/src/retraction.rs",
    ),
    x(440, "SASL Channel-Binding Type Capability", "1.0.0", "complete", "", "crates/c2s/src/auth.rs"),
    x(
        445,
        "Pre-Authenticated In-Band Registration",
        "0.2.0",
        "complete",
        "tokens are single-use unless made reusable, checked at preauth, used at registration",
        "crates/mod-invites/src/registration.rs",
    ),
    x(
        452,
        "MUC Mention Notifications",
        "0.2.2",
        "complete",
        "for registered users away from the room",
        "crates/mod-muc/src/notify.rs",
    ),
    x(474, "SASL SCRAM Downgrade Protection", "0.5.0", "complete", "SASL and SASL2", "crates/sasl/src/scram.rs"),
    x(
        478,
        "Stream Limits Advertisement",
        "0.2.0",
        "complete",
        "c2s and s2s features, and in <bidi/> on outbound streams",
        "crates/stream/src/io.rs",
    ),
    x(
        480,
        "SASL Upgrade Tasks",
        "0.2.0",
        "complete",
        "UPGR-SCRAM-SHA-256 and UPGR-SCRAM-SHA-512 with SASL2, offered by the stream's from; after password logins",
        "crates/c2s/src/upgrade.rs",
    ),
    x(
        484,
        "Fast Authentication Streamlining Tokens",
        "0.2.0",
        "complete",
        "HT-SHA-256-EXPR/ENDP/NONE; logins in TLS 0-RTT early data with replay counts",
        "crates/c2s/src/sasl2.rs",
    ),
    x(
        488,
        "MUC Token Invite",
        "0.1.0",
        "complete",
        "tokens are invites in storage; a list names each by its id, which revokes too",
        "crates/mod-muc/src/tokens.rs",
    ),
    x(486, "MUC Avatars", "0.1.0", "complete", "", "crates/mod-muc/src/owner.rs"),
    x(
        490,
        "Message Displayed Synchronization",
        "1.0.1",
        "complete",
        "private PEP node defaults, server assist (the state taken from the chat marker and published); states move the unread overview's read positions",
        "crates/mod-pep/src/displayed.rs",
    ),
];

/// The README's table of supported XEPs.
pub fn markdown() -> String {
    let mut out = String::from("| XEP | name | version | status | notes | code |\n|---|---|---|---|---|---|\n");
    for s in SUPPORTED {
        out.push_str(&format!(
            "| [XEP-{:04}](https://xmpp.org/extensions/xep-{:04}.html) | {} | {} | {} | {} | [{}]({}) |\n",
            s.xep, s.xep, s.name, s.version, s.status, s.note, s.code, s.code
        ));
    }
    out
}

/// A DOAP description (as the XSF lists servers), with every supported XEP.
pub fn doap() -> String {
    let mut out = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://usefulinc.com/ns/doap#"
         xmlns:xmpp="https://linkmauve.fr/ns/xmpp-doap#">
  <Project>
    <name>Rhein</name>
    <shortdesc>An XMPP server written in Rust</shortdesc>
    <license rdf:resource="https://www.gnu.org/licenses/agpl-3.0.html"/>
    <programming-language>Rust</programming-language>
    <category rdf:resource="https://linkmauve.fr/ns/xmpp-doap#category-server"/>
    <implements rdf:resource="https://xmpp.org/rfcs/rfc6120.html"/>
    <implements rdf:resource="https://xmpp.org/rfcs/rfc6121.html"/>
    <implements rdf:resource="https://xmpp.org/rfcs/rfc7622.html"/>
"#,
    );
    for s in SUPPORTED {
        out.push_str(&format!(
            "    <implements>\n      <xmpp:SupportedXep>\n        <xmpp:xep rdf:resource=\"https://xmpp.org/extensions/xep-{:04}.html\"/>\n        <xmpp:status>{}</xmpp:status>\n        <xmpp:version>{}</xmpp:version>\n",
            s.xep, s.status, s.version
        ));
        if !s.note.is_empty() {
            out.push_str(&format!("        <xmpp:note>{}</xmpp:note>\n", rhein_proto::xml::escape(s.note)));
        }
        out.push_str("      </xmpp:SupportedXep>\n    </implements>\n");
    }
    out.push_str("  </Project>\n</rdf:RDF>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doap_file_is_generated_from_the_list() {
        let committed = include_str!("../../../doap.xml");
        assert!(committed == doap(), "doap.xml is stale: run `cargo run -p rhein -- doap > doap.xml`");
    }

    #[test]
    fn every_xep_names_code_that_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for s in SUPPORTED {
            assert!(root.join(s.code).exists(), "XEP-{:04}: {} does not exist", s.xep, s.code);
        }
    }

    #[test]
    fn readme_lists_every_supported_xep() {
        let readme = include_str!("../../../README.md");
        let table = markdown();
        assert!(readme.contains(&table), "README.md's XEP table is stale; it should read:\n{table}");
    }
}
