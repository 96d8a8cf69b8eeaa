//! Property tests of what Rhein parses out of stanzas: JIDs as the server takes them from
//! `to`/`from`, bind resources and room nicknames; the typed MIX payloads (xso derives); the
//! element helpers handlers use on peer input; and the writer every stanza leaves through.
//! Nothing panics on any input, and what parses round-trips. 256 cases a property
//! (proptest's default); `PROPTEST_CASES` raises it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rhein_proto::minidom::Node;
use rhein_proto::{
    BareJid, Element, FullJid, Jid, StanzaError, extdisco, form, mix, ns, payload, push, roster, sid, vcard, xml,
};

// ---- JIDs ----

/// Strings shaped like JIDs: parts that need preparation (case, width, compatibility
/// characters), the separators, IP literals, and anything at all.
fn jid_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-zA-Z0-9._-]{0,12}",
        "[A-Za-z\u{e9}\u{df}\u{130}\u{3a3}\u{3f9}\u{fb01}\u{ff21}\u{2126}\u{1f600}\u{200d}\u{0} \"&'/:<>@]{0,8}",
        "\\PC{0,12}",
        any::<String>(),
    ];
    prop_oneof![
        (part.clone(), part.clone(), part.clone()).prop_map(|(n, d, r)| format!("{n}@{d}/{r}")),
        (part.clone(), part.clone()).prop_map(|(n, d)| format!("{n}@{d}")),
        (part.clone(), part.clone()).prop_map(|(d, r)| format!("{d}/{r}")),
        "\\[[0-9a-fA-F:.]{0,20}\\](/[a-z]{0,3})?",
        "[0-9.]{1,16}",
        // Letters stringprep's tables predate (see `normal_only_on_second_parse`).
        "([a-z\u{3f9}\u{1e9e}]{1,4}@)?[a-z\u{3f9}\u{1e9e}]{1,4}(\\.[a-z]{1,3})?",
        part,
    ]
}

/// jid 0.12 prepares each part with stringprep in its query profile, which lets through code
/// points that Unicode 3.2 had not assigned; NFKC may then turn one into a letter that case
/// folding has already passed (U+03F9 `Ϲ` becomes `Σ`, not `σ`), so such a JID reaches its
/// normal form only when parsed a second time: `Ϲγμα.c` is written `Σγμα.c`, which parses
/// as `σγμα.c`. A known gap of the dependency; such inputs are checked from their first
/// normal form on.
fn normal_only_on_second_parse(s: &str) -> bool {
    s.chars().any(stringprep::tables::unassigned_code_point)
}

proptest! {
    /// Whatever a peer puts in `to` or `from`: no panic, and a JID that parses is written in
    /// its normal form, which parses to the same JID (and writes the same again).
    #[test]
    fn jids_parse_without_panic_and_round_trip(s in jid_like()) {
        let s = match Jid::new(&s) {
            Ok(first) if normal_only_on_second_parse(&s) => first.to_string(),
            _ => s,
        };
        if let Ok(jid) = Jid::new(&s) {
            let text = jid.to_string();
            let again = Jid::new(&text).map_err(|e| TestCaseError::fail(format!("{s:?} → {text:?}: {e}")))?;
            prop_assert_eq!(&again, &jid);
            prop_assert_eq!(again.to_string(), text);
            // The views Rhein takes of it agree with the whole.
            let bare = jid.to_bare();
            prop_assert_eq!(BareJid::new(bare.as_str()).ok(), Some(bare.clone()));
            prop_assert_eq!(bare.node(), jid.node());
            prop_assert_eq!(bare.domain(), jid.domain());
            match jid.try_as_full() {
                Ok(full) => {
                    prop_assert_eq!(FullJid::new(&s).ok(), Some(full.clone()));
                    prop_assert!(BareJid::new(&s).is_err());
                }
                Err(b) => {
                    prop_assert!(jid.resource().is_none());
                    prop_assert_eq!(BareJid::new(&s).ok(), Some(b.clone()));
                    prop_assert!(FullJid::new(&s).is_err());
                }
            }
        } else {
            prop_assert!(BareJid::new(&s).is_err() && FullJid::new(&s).is_err());
        }
    }

    /// How the server builds JIDs from a peer's words: a bound resource
    /// (`localpart@host/resource`), a room nickname (`room@service/nick`), an account or
    /// channel name (`name@host`). What parses stays on the host it was built for, with the
    /// localpart it was given; and a resource that parses round-trips as the nickname the
    /// room keeps.
    #[test]
    fn jids_built_from_peer_words_stay_on_their_host(word in jid_like(), host in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}") {
        let host_jid = BareJid::new(&host).unwrap();
        if let Ok(full) = FullJid::new(&format!("juliet@{host}/{word}")) {
            prop_assert_eq!(full.domain(), host_jid.domain());
            prop_assert_eq!(full.node().map(|n| n.as_str()), Some("juliet"));
            let nick = full.resource().as_str();
            let again = FullJid::new(&format!("room@{host}/{nick}")).unwrap();
            prop_assert_eq!(again.resource().as_str(), nick);
        }
        if let Ok(bare) = BareJid::new(&format!("{word}@{host}")) {
            prop_assert_eq!(bare.domain(), host_jid.domain());
            prop_assert!(bare.node().is_some());
        }
    }
}

// ---- Elements as a peer may send them ----

const NAMESPACES: &[&str] = &[
    ns::MIX_CORE,
    ns::MIX_PAM,
    ns::MIX_PRESENCE,
    ns::MIX_ANON,
    ns::MIX_MISC,
    ns::MIX_ROSTER,
    "jabber:client",
    "urn:ietf:params:xml:ns:xmpp-stanzas",
    "http://jabber.org/protocol/rsm",
    "jabber:x:data",
    "vcard-temp",
    "urn:xmpp:sid:0",
    ns::ROSTER,
    ns::PUSH,
    ns::PUSH_BODY,
    ns::EXTDISCO,
    ns::LAST,
    ns::PRIVATE,
    "",
    "urn:other",
];

/// Names of the payloads and of their children, and of the elements the helpers look for.
const NAMES: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "join",
    "leave",
    "update-subscription",
    "setnick",
    "nick",
    "create",
    "destroy",
    "participant",
    "jid",
    "mix",
    "client-join",
    "client-leave",
    "channel",
    "register",
    "invitation",
    "inviter",
    "invitee",
    "token",
    "invite",
    "retract",
    "retracted",
    "error",
    "text",
    "bad-request",
    "set",
    "max",
    "after",
    "before",
    "x",
    "field",
    "value",
    "PHOTO",
    "BINVAL",
    "stanza-id",
    "message",
    "query",
    "item",
    "group",
    "annotate",
    "enable",
    "disable",
    "include-body",
    "services",
    "credentials",
    "service",
    "other",
];

const ATTRIBUTES: &[&str] = &[
    "node",
    "id",
    "jid",
    "channel",
    "participant-id",
    "by",
    "time",
    "var",
    "type",
    "to",
    "from",
    "ver",
    "name",
    "subscription",
    "ask",
    "approved",
    "host",
    "port",
    "restricted",
    "seconds",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ]{0,8}",
        Just("urn:xmpp:mix:nodes:messages".to_owned()),
        Just("aGVsbG8=".to_owned()),
        "[0-9 -]{0,6}",
        "\\PC{0,8}",
        any::<String>().prop_map(|s| s.chars().filter(|c| xml_char(*c)).collect()),
    ]
}

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

/// An element with a few attributes, some in a namespace of their own.
fn leaf() -> impl Strategy<Value = Element> {
    let attribute =
        (prop::sample::select(ATTRIBUTES), text(), prop::option::weighted(0.15, prop::sample::select(NAMESPACES)));
    (prop::sample::select(NAMES), prop::sample::select(NAMESPACES), prop::collection::vec(attribute, 0..4)).prop_map(
        |(name, ns, attrs)| {
            let mut el = Element::bare(name, ns);
            for (attr, value, attr_ns) in attrs {
                match attr_ns.filter(|n| !n.is_empty()) {
                    Some(n) => xml::set_attr_ns(&mut el, n, attr, value),
                    None => xml::set_attr(&mut el, attr, value),
                }
            }
            el
        },
    )
}

/// Trees up to four levels deep, mostly in their parent's namespace, with text between.
fn element() -> impl Strategy<Value = Element> {
    leaf().prop_recursive(3, 48, 5, |inner| {
        (
            leaf(),
            prop::collection::vec(
                prop_oneof![3 => inner.prop_map(Node::Element), 1 => text().prop_map(Node::Text)],
                0..5,
            ),
            any::<bool>(),
        )
            .prop_map(|(mut el, children, same_ns)| {
                for child in children {
                    match child {
                        Node::Element(c) if same_ns => {
                            // Re-home the child in its parent's namespace, as payloads nest.
                            let mut moved = Element::bare(c.name(), el.ns());
                            *moved.attrs_mut() = c.attrs().clone();
                            for n in c.nodes() {
                                moved.append_node(n.clone());
                            }
                            el.append_child(moved);
                        }
                        Node::Element(c) => {
                            el.append_child(c);
                        }
                        // An empty text node is no node once written.
                        Node::Text(t) if t.is_empty() => {}
                        Node::Text(t) => el.append_text(t),
                    }
                }
                el
            })
    })
}

/// The payloads' own (namespace, name) pairs.
const PAYLOADS: &[(&str, &str)] = &[
    (ns::MIX_CORE, "subscribe"),
    (ns::MIX_CORE, "unsubscribe"),
    (ns::MIX_CORE, "join"),
    (ns::MIX_CORE, "leave"),
    (ns::MIX_CORE, "update-subscription"),
    (ns::MIX_CORE, "setnick"),
    (ns::MIX_CORE, "create"),
    (ns::MIX_CORE, "destroy"),
    (ns::MIX_CORE, "participant"),
    (ns::MIX_CORE, "mix"),
    (ns::MIX_PRESENCE, "mix"),
    (ns::MIX_ANON, "participant"),
    (ns::MIX_PAM, "client-join"),
    (ns::MIX_PAM, "client-leave"),
    (ns::MIX_ROSTER, "channel"),
    (ns::MIX_MISC, "register"),
    (ns::MIX_MISC, "invitation"),
    (ns::MIX_MISC, "invite"),
    (ns::MIX_MISC, "retract"),
    (ns::MIX_MISC, "retracted"),
    (ns::ROSTER, "query"),
    (ns::ROSTER, "item"),
    (ns::PUSH, "enable"),
    (ns::PUSH, "disable"),
    (ns::EXTDISCO, "services"),
    (ns::EXTDISCO, "credentials"),
    (ns::EXTDISCO, "service"),
    (ns::LAST, "query"),
    (ns::PRIVATE, "query"),
];

/// Elements shaped like a payload: its own name and namespace, children named like the
/// payloads' parts (text-only, or payloads themselves), attributes named like theirs.
fn payload() -> impl Strategy<Value = Element> {
    let child = prop_oneof![
        3 => (prop::sample::select(NAMES), prop::option::of(text())).prop_map(|(name, text)| (name, text, None)),
        1 => (prop::sample::select(PAYLOADS), element()).prop_map(|((ns, name), inner)| (name, None, Some((ns, inner)))),
    ];
    (prop::sample::select(PAYLOADS), leaf(), prop::collection::vec((child, any::<bool>()), 0..5)).prop_map(
        |((ns, name), attrs, children)| {
            let mut el = Element::bare(name, ns);
            *el.attrs_mut() = attrs.attrs().clone();
            for ((child_name, text, payload), same_ns) in children {
                let child_ns = if same_ns { ns } else { NAMESPACES[child_name.len() % NAMESPACES.len()] };
                let mut child = match payload {
                    Some((payload_ns, inner)) => {
                        let mut c = Element::bare(child_name, payload_ns);
                        *c.attrs_mut() = inner.attrs().clone();
                        c.append_child(inner);
                        c
                    }
                    None => Element::bare(child_name, child_ns),
                };
                if let Some(t) = text.filter(|t| !t.is_empty()) {
                    child.append_text(t);
                }
                el.append_child(child);
            }
            el
        },
    )
}

/// A payload type: any element converts to it or fails, and what converts writes out as an
/// element that converts back to the same value.
fn round_trips<T>(el: &Element) -> Result<(), TestCaseError>
where
    T: TryFrom<Element> + Into<Element> + Clone + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = T::try_from(el.clone()) {
        let written: Element = value.clone().into();
        let back = T::try_from(written.clone())
            .map_err(|_| TestCaseError::fail(format!("{written:?} does not convert back")))?;
        prop_assert_eq!(back, value);
    }
    Ok(())
}

proptest! {
    /// Every MIX payload type against any element: converted or refused, never a panic,
    /// and what converts round-trips.
    #[test]
    fn mix_payloads_convert_or_refuse(el in prop_oneof![element(), payload()]) {
        round_trips::<mix::Subscribe>(&el)?;
        round_trips::<mix::Unsubscribe>(&el)?;
        round_trips::<mix::Join>(&el)?;
        round_trips::<mix::Leave>(&el)?;
        round_trips::<mix::UpdateSubscription>(&el)?;
        round_trips::<mix::SetNick>(&el)?;
        round_trips::<mix::Create>(&el)?;
        round_trips::<mix::Destroy>(&el)?;
        round_trips::<mix::Participant>(&el)?;
        round_trips::<mix::MessageSender>(&el)?;
        round_trips::<mix::PresenceSender>(&el)?;
        round_trips::<mix::JidMapEntry>(&el)?;
        round_trips::<mix::ClientJoin>(&el)?;
        round_trips::<mix::ClientLeave>(&el)?;
        round_trips::<mix::RosterChannel>(&el)?;
        round_trips::<mix::Register>(&el)?;
        round_trips::<mix::Invitation>(&el)?;
        round_trips::<mix::Invite>(&el)?;
        round_trips::<mix::Retract>(&el)?;
        round_trips::<mix::Retracted>(&el)?;
    }

    /// The same for the payload types Rhein defines where xmpp-parsers has none or types
    /// them too narrowly (roster, push, external services, last activity, private XML).
    #[test]
    fn rhein_payloads_convert_or_refuse(el in prop_oneof![element(), payload()]) {
        round_trips::<roster::Roster>(&el)?;
        round_trips::<roster::Item>(&el)?;
        round_trips::<push::Enable>(&el)?;
        round_trips::<push::Disable>(&el)?;
        round_trips::<extdisco::Services>(&el)?;
        round_trips::<extdisco::Credentials>(&el)?;
        round_trips::<extdisco::Service>(&el)?;
        round_trips::<payload::LastActivity>(&el)?;
        round_trips::<payload::PrivateQuery>(&el)?;
    }

    /// The helpers handlers run on peer input: error replies, forms, photos,
    /// stanza ids, namespace moves and reply shells. No panic on any element.
    #[test]
    fn element_helpers_take_any_element(el in element()) {
        let _ = StanzaError::from_reply(&el);
        for c in el.children() {
            let _ = form::submitted(c).count();
            let _ = form::values(c);
            let _ = form::boolean(&c.text());
        }
        let _ = vcard::photo_hash(&el);
        let _ = xml::StanzaKind::of(&el);
        let _ = xml::reply_shell(&el, "error");
        let _ = StanzaError::bad_request().reply_to(&el);
        let mut copy = el.clone();
        sid::drop_claims(&mut copy, "a@b");
        let moved = xml::renamespace(el.clone(), &el.ns(), "jabber:server");
        prop_assert_eq!(moved.name(), el.name());
    }

    /// The writer: any element, whatever its namespaces and namespaced attributes, is
    /// written as XML that parses back to the same element.
    #[test]
    fn the_writer_writes_any_element_back(el in element()) {
        let text = xml::to_string(&el);
        let back: Element = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, el, "{}", text);
    }
}
