//! The delivery rules of RFC 6121 §8.5 (and the IQ rules of RFC 6120 it leans on), one test
//! per rule, against a router built as the server builds it but with no module registered:
//! what is checked is what the router itself does. Where it departs from the RFC, the test
//! pins the current behaviour and says so.

use crate::{Outbound, Router, SessionHandle};
use rhein_module::{Registry, RouterApi, ServerInfo};
use rhein_proto::{Element, FullJid, ns};
use rhein_storage::Db;
use std::sync::Arc;
use tokio::sync::mpsc;

const HOST: &str = "example.org";
/// The account most tests deliver to.
const JULIET: &str = "juliet@example.org";
/// An account that exists but never has a session.
const ROSALINE: &str = "rosaline@example.org";
/// No account of this name exists.
const NOBODY: &str = "nobody@example.org";

/// A router serving `example.org`, with accounts juliet, romeo and rosaline, and romeo's
/// session, from which the tests send (and to which bounces come back).
async fn server() -> (Router, Session) {
    let db = Db::connect("sqlite::memory:").await.expect("in-memory database");
    let creds = rhein_sasl::Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
    for user in ["juliet", "romeo", "rosaline"] {
        assert!(db.accounts().create(HOST, user, &creds).await.expect("account stored"));
    }
    let info = Arc::new(ServerInfo {
        name: "Rhein",
        version: "test",
        started: std::time::Instant::now(),
        upload_dir: std::env::temp_dir(),
        web_origin: Default::default(),
        admins: Default::default(),
        webchat: false,
    });
    let router = Router::new([HOST.to_owned()], [], db, info, Registry::new());
    let romeo = connected(&router, "romeo@example.org/phone").await;
    (router, romeo)
}

/// A bound session, as the router sees it.
struct Session {
    jid: FullJid,
    rx: mpsc::Receiver<Outbound>,
}

impl Session {
    /// Everything queued for this session since the last look.
    fn received(&mut self) -> Vec<Element> {
        let mut out = Vec::new();
        while let Ok(next) = self.rx.try_recv() {
            match next {
                Outbound::Stanza(el) => out.push(*el),
                Outbound::Shared(copy) => out.push(copy.to_element(self.jid.as_str())),
                Outbound::Close(closing) => panic!("{} was closed with {:?}", self.jid, closing.condition),
            }
        }
        out
    }

    /// The ids of what was queued for this session since the last look.
    fn received_ids(&mut self) -> Vec<String> {
        self.received().iter().map(|el| el.attr("id").unwrap_or_default().to_owned()).collect()
    }

    #[track_caller]
    fn assert_nothing(&mut self) {
        let got = self.received();
        assert!(got.is_empty(), "{} got {got:?}", self.jid);
    }

    /// Exactly one stanza arrived: the error reply to stanza `id`, with `condition`.
    #[track_caller]
    fn assert_error(&mut self, id: &str, condition: &str) {
        let got = self.received();
        assert_eq!(got.len(), 1, "{} expected one error, got {got:?}", self.jid);
        let reply = &got[0];
        assert_eq!(reply.attr("type"), Some("error"), "{reply:?}");
        assert_eq!(reply.attr("id"), Some(id), "{reply:?}");
        assert_eq!(reply.attr("to"), Some(self.jid.as_str()), "{reply:?}");
        assert_eq!(error_condition(reply).as_deref(), Some(condition), "{reply:?}");
    }
}

/// The defined condition of an error stanza.
fn error_condition(el: &Element) -> Option<String> {
    let error = el.get_child("error", ns::CLIENT)?;
    error.children().find(|c| c.ns() == ns::STANZAS && c.name() != "text").map(|c| c.name().to_owned())
}

/// A bound resource that has not sent initial presence (a "connected resource").
async fn connected(router: &Router, jid: &str) -> Session {
    let jid = FullJid::new(jid).expect("test JID");
    let (handle, rx, _overflow) = SessionHandle::new(64);
    router.bind(jid.clone(), handle, 10).await.expect("bound");
    Session { jid, rx }
}

/// A bound resource that has sent available presence with `priority` (an "available
/// resource"), recorded as mod-im records it.
async fn available(router: &Router, jid: &str, priority: i8) -> Session {
    let session = connected(router, jid).await;
    let presence = stanza(&format!("<presence xmlns='jabber:client'><priority>{priority}</priority></presence>"));
    router.set_presence(&session.jid, Some(presence), priority);
    session
}

fn stanza(xml: &str) -> Element {
    xml.parse().expect("test stanza parses")
}

fn message(to: &str, kind: &str, id: &str) -> Element {
    stanza(&format!("<message xmlns='jabber:client' to='{to}' type='{kind}' id='{id}'><body>hi</body></message>"))
}

/// A message with no `type`: `normal` (RFC 6121 §5.2.2).
fn untyped_message(to: &str, id: &str) -> Element {
    stanza(&format!("<message xmlns='jabber:client' to='{to}' id='{id}'><body>hi</body></message>"))
}

fn presence(to: &str, kind: Option<&str>, id: &str) -> Element {
    let kind = kind.map(|k| format!(" type='{k}'")).unwrap_or_default();
    stanza(&format!("<presence xmlns='jabber:client' to='{to}' id='{id}'{kind}/>"))
}

/// An IQ whose payload no module handles.
fn iq(to: &str, kind: &str, id: &str) -> Element {
    stanza(&format!(
        "<iq xmlns='jabber:client' to='{to}' type='{kind}' id='{id}'><query xmlns='urn:example:unknown'/></iq>"
    ))
}

/// Sends `el` from `from`'s session, as c2s hands over what a client sent.
async fn send(router: &Router, from: &Session, el: Element) {
    router.process(&from.jid, el).await;
}

// §8.5.2.1.1: message to a bare JID with available resources.

/// RFC 6121 §8.5.2.1.1, type "chat": with several non-negative resources, the server picks
/// the "most available" one, here the highest priority.
#[tokio::test]
async fn a_chat_to_a_bare_jid_goes_to_the_highest_non_negative_priority() {
    let (router, romeo) = server().await;
    let mut high = available(&router, "juliet@example.org/high", 5).await;
    let mut low = available(&router, "juliet@example.org/low", 1).await;
    let mut zero = available(&router, "juliet@example.org/zero", 0).await;
    send(&router, &romeo, message(JULIET, "chat", "c1")).await;
    assert_eq!(high.received_ids(), ["c1"]);
    low.assert_nothing();
    zero.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1, type "normal" (and a message without `type`, which is "normal" by
/// §5.2.2): as for chat, the highest-priority non-negative resource.
#[tokio::test]
async fn a_normal_message_to_a_bare_jid_goes_to_the_highest_non_negative_priority() {
    let (router, romeo) = server().await;
    let mut high = available(&router, "juliet@example.org/high", 5).await;
    let mut low = available(&router, "juliet@example.org/low", 1).await;
    send(&router, &romeo, message(JULIET, "normal", "n1")).await;
    send(&router, &romeo, untyped_message(JULIET, "n2")).await;
    assert_eq!(high.received_ids(), ["n1", "n2"]);
    low.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1: "the 'most available' resource or resources": when several share
/// the highest priority, each of them gets a copy.
#[tokio::test]
async fn a_chat_to_a_bare_jid_goes_to_every_resource_tied_at_the_highest_priority() {
    let (router, romeo) = server().await;
    let mut first = available(&router, "juliet@example.org/first", 3).await;
    let mut second = available(&router, "juliet@example.org/second", 3).await;
    let mut lower = available(&router, "juliet@example.org/lower", 2).await;
    send(&router, &romeo, message(JULIET, "chat", "c1")).await;
    send(&router, &romeo, message(JULIET, "normal", "n1")).await;
    assert_eq!(first.received_ids(), ["c1", "n1"]);
    assert_eq!(second.received_ids(), ["c1", "n1"]);
    lower.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1: "for any message type the server MUST NOT deliver the stanza to any
/// available resource with a negative priority", even when it has the highest priority of
/// none at all.
#[tokio::test]
async fn a_message_to_a_bare_jid_never_goes_to_a_negative_priority_resource() {
    let (router, mut romeo) = server().await;
    let mut negative = available(&router, "juliet@example.org/negative", -1).await;
    let mut zero = available(&router, "juliet@example.org/zero", 0).await;
    for (kind, id) in [("chat", "c1"), ("normal", "n1"), ("headline", "h1")] {
        send(&router, &romeo, message(JULIET, kind, id)).await;
    }
    assert_eq!(zero.received_ids(), ["c1", "n1", "h1"]);
    negative.assert_nothing();
    romeo.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1: "if the only available resource has a negative priority, the server
/// SHOULD handle the message as if there were no available resources" (§8.5.2.2.1): with no
/// module storing it offline, chat and normal are bounced with `service-unavailable`.
#[tokio::test]
async fn a_chat_to_a_bare_jid_with_only_negative_resources_is_handled_as_with_none() {
    let (router, mut romeo) = server().await;
    let mut negative = available(&router, "juliet@example.org/negative", -5).await;
    send(&router, &romeo, message(JULIET, "chat", "c1")).await;
    romeo.assert_error("c1", "service-unavailable");
    send(&router, &romeo, message(JULIET, "normal", "n1")).await;
    romeo.assert_error("n1", "service-unavailable");
    negative.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1, type "headline": "deliver the message to all of the non-negative
/// resources".
#[tokio::test]
async fn a_headline_to_a_bare_jid_goes_to_every_non_negative_resource() {
    let (router, romeo) = server().await;
    let mut high = available(&router, "juliet@example.org/high", 5).await;
    let mut low = available(&router, "juliet@example.org/low", 1).await;
    let mut zero = available(&router, "juliet@example.org/zero", 0).await;
    let mut negative = available(&router, "juliet@example.org/negative", -1).await;
    send(&router, &romeo, message(JULIET, "headline", "h1")).await;
    assert_eq!(high.received_ids(), ["h1"]);
    assert_eq!(low.received_ids(), ["h1"]);
    assert_eq!(zero.received_ids(), ["h1"]);
    negative.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1, type "headline": "If the only available resource has a negative
/// presence priority then the server MUST silently ignore the stanza."
#[tokio::test]
async fn a_headline_to_a_bare_jid_with_only_negative_resources_is_dropped() {
    let (router, mut romeo) = server().await;
    let mut negative = available(&router, "juliet@example.org/negative", -1).await;
    send(&router, &romeo, message(JULIET, "headline", "h1")).await;
    negative.assert_nothing();
    romeo.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1, type "groupchat": "MUST NOT deliver the stanza to any of the
/// available resources but instead MUST return a stanza error to the sender, which SHOULD be
/// <service-unavailable/>".
#[tokio::test]
async fn a_groupchat_to_a_bare_jid_is_bounced_with_service_unavailable() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 1).await;
    send(&router, &romeo, message(JULIET, "groupchat", "g1")).await;
    romeo.assert_error("g1", "service-unavailable");
    juliet.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1, type "error": "the server MUST silently ignore the message".
#[tokio::test]
async fn an_error_message_to_a_bare_jid_is_dropped() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 1).await;
    send(&router, &romeo, message(JULIET, "error", "e1")).await;
    juliet.assert_nothing();
    romeo.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1: "the server MUST NOT rewrite the 'to' attribute (i.e., it MUST leave
/// it as <localpart@domainpart>".
#[tokio::test]
async fn a_message_to_a_bare_jid_keeps_its_bare_to() {
    let (router, romeo) = server().await;
    let mut first = available(&router, "juliet@example.org/first", 0).await;
    let mut second = available(&router, "juliet@example.org/second", 0).await;
    send(&router, &romeo, message(JULIET, "chat", "c1")).await;
    send(&router, &romeo, message(JULIET, "headline", "h1")).await;
    for got in first.received().iter().chain(second.received().iter()) {
        assert_eq!(got.attr("to"), Some(JULIET), "{got:?}");
    }
}

/// RFC 6121 §5.2.2: a message whose `type` the server does not understand is "normal", so
/// it goes to the highest non-negative priority as in §8.5.2.1.1.
#[tokio::test]
async fn a_message_of_unknown_type_to_a_bare_jid_is_handled_as_normal() {
    let (router, romeo) = server().await;
    let mut high = available(&router, "juliet@example.org/high", 2).await;
    let mut low = available(&router, "juliet@example.org/low", 1).await;
    send(&router, &romeo, message(JULIET, "shout", "s1")).await;
    assert_eq!(high.received_ids(), ["s1"]);
    low.assert_nothing();
}

/// RFC 6121 §8.5.2.1.1 chooses among *available* resources (with a presence priority); a
/// resource that is bound but has not sent initial presence is none of them, so a message to
/// the bare JID is handled as with no available resource (§8.5.2.2.1): bounced, with no
/// module storing it offline.
///
/// Doubtful: RFC 6120 §10.5.3.2 says a message "SHOULD" go to "at least one of the connected
/// resources"; RFC 6121, which refines it for IM, only ever delivers to available ones.
#[tokio::test]
async fn a_message_to_a_bare_jid_skips_resources_without_initial_presence() {
    let (router, mut romeo) = server().await;
    let mut juliet = connected(&router, "juliet@example.org/balcony").await;
    send(&router, &romeo, message(JULIET, "chat", "c1")).await;
    romeo.assert_error("c1", "service-unavailable");
    send(&router, &romeo, message(JULIET, "headline", "h1")).await;
    romeo.assert_nothing();
    juliet.assert_nothing();
}

// §8.5.2.1.2 and §8.5.2.1.3: presence and IQ to a bare JID with resources.

/// RFC 6121 §8.5.2.1.2: "For a presence stanza with no type or of type 'unavailable', the
/// server MUST deliver it to all available resources" (negative priority included, since
/// priority only ranks messages); resources without initial presence get none.
#[tokio::test]
async fn presence_to_a_bare_jid_goes_to_every_available_resource() {
    let (router, romeo) = server().await;
    let mut high = available(&router, "juliet@example.org/high", 5).await;
    let mut negative = available(&router, "juliet@example.org/negative", -1).await;
    let mut silent = connected(&router, "juliet@example.org/silent").await;
    send(&router, &romeo, presence(JULIET, None, "p1")).await;
    send(&router, &romeo, presence(JULIET, Some("unavailable"), "p2")).await;
    assert_eq!(high.received_ids(), ["p1", "p2"]);
    assert_eq!(negative.received_ids(), ["p1", "p2"]);
    silent.assert_nothing();
}

/// RFC 6121 §8.5.2.1.3: "the server itself MUST reply on behalf of the user [...] and MUST
/// NOT deliver the IQ stanza to any of the user's available resources"; for a namespace it
/// has no answer for, `service-unavailable` (also RFC 6120 §8.4: an IQ get or set in a
/// namespace the recipient does not understand gets `service-unavailable`, not
/// `feature-not-implemented`).
#[tokio::test]
async fn an_iq_to_a_bare_jid_is_answered_by_the_server_not_delivered() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 5).await;
    send(&router, &romeo, iq(JULIET, "get", "q1")).await;
    romeo.assert_error("q1", "service-unavailable");
    send(&router, &romeo, iq(JULIET, "set", "q2")).await;
    romeo.assert_error("q2", "service-unavailable");
    juliet.assert_nothing();
}

/// RFC 6120 §10.3.3: an IQ without `to` is for the sender's own account, answered on its
/// behalf as in RFC 6121 §8.5.2.1.3: with no handler, `service-unavailable`, and no copy to
/// the account's other resources.
#[tokio::test]
async fn an_iq_without_to_is_answered_on_behalf_of_the_senders_account() {
    let (router, _romeo) = server().await;
    let mut balcony = available(&router, "juliet@example.org/balcony", 0).await;
    let mut garden = available(&router, "juliet@example.org/garden", 0).await;
    let request = stanza("<iq xmlns='jabber:client' type='get' id='q1'><query xmlns='urn:example:unknown'/></iq>");
    send(&router, &balcony, request).await;
    balcony.assert_error("q1", "service-unavailable");
    garden.assert_nothing();
}

// §8.5.2.2: bare JID, no available or connected resource.

/// RFC 6121 §8.5.2.2.1: "normal" or "chat": "SHOULD either (a) add the message to offline
/// storage or (b) return a stanza error to the sender, which SHOULD be
/// <service-unavailable/>". The `Undeliverable` stage (where mod-im stores offline) runs; with
/// no module in it, the message is bounced.
#[tokio::test]
async fn a_chat_or_normal_to_an_account_without_resources_is_bounced_unless_stored() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, message(ROSALINE, "chat", "c1")).await;
    romeo.assert_error("c1", "service-unavailable");
    send(&router, &romeo, message(ROSALINE, "normal", "n1")).await;
    romeo.assert_error("n1", "service-unavailable");
    send(&router, &romeo, untyped_message(ROSALINE, "n2")).await;
    romeo.assert_error("n2", "service-unavailable");
}

/// RFC 6121 §8.5.2.2.1: "For a message stanza of type 'groupchat', the server MUST return an
/// error to the sender, which SHOULD be <service-unavailable/>."
#[tokio::test]
async fn a_groupchat_to_an_account_without_resources_is_bounced() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, message(ROSALINE, "groupchat", "g1")).await;
    romeo.assert_error("g1", "service-unavailable");
}

/// RFC 6121 §8.5.2.2.1: "For a message stanza of type 'headline' or 'error', the server MUST
/// silently ignore the message."
#[tokio::test]
async fn a_headline_or_error_to_an_account_without_resources_is_dropped() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, message(ROSALINE, "headline", "h1")).await;
    send(&router, &romeo, message(ROSALINE, "error", "e1")).await;
    romeo.assert_nothing();
}

/// RFC 6121 §8.5.2.2.2: presence with no type or "unavailable": "SHOULD silently ignore the
/// stanza". Subscription states and probes are for modules (§3, §4.3); with none, nothing
/// happens to them either.
#[tokio::test]
async fn presence_to_an_account_without_resources_is_dropped() {
    let (router, mut romeo) = server().await;
    for kind in [None, Some("unavailable"), Some("subscribe"), Some("probe")] {
        send(&router, &romeo, presence(ROSALINE, kind, "p1")).await;
    }
    romeo.assert_nothing();
}

/// RFC 6121 §8.5.2.2.3: the server "MUST reply on behalf of the user", with
/// `service-unavailable` when it has no answer.
#[tokio::test]
async fn an_iq_to_an_account_without_resources_is_answered_with_service_unavailable() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, iq(ROSALINE, "get", "q1")).await;
    romeo.assert_error("q1", "service-unavailable");
    send(&router, &romeo, iq(ROSALINE, "set", "q2")).await;
    romeo.assert_error("q2", "service-unavailable");
}

// §8.5.3.1: full JID, the resource is bound.

/// RFC 6121 §8.5.3.1: "For a message stanza, the server MUST deliver the stanza to the
/// resource", whatever its type and priority (table 1, "full match": D).
#[tokio::test]
async fn a_message_to_a_bound_full_jid_goes_to_that_resource_only() {
    let (router, mut romeo) = server().await;
    let mut negative = available(&router, "juliet@example.org/negative", -1).await;
    let mut other = available(&router, "juliet@example.org/other", 5).await;
    let to = "juliet@example.org/negative";
    for (kind, id) in [("chat", "c1"), ("normal", "n1"), ("groupchat", "g1"), ("headline", "h1"), ("error", "e1")] {
        send(&router, &romeo, message(to, kind, id)).await;
    }
    assert_eq!(negative.received_ids(), ["c1", "n1", "g1", "h1", "e1"]);
    other.assert_nothing();
    romeo.assert_nothing();
}

/// RFC 6121 §8.5.3.1: "If an available resource or connected resource exactly matches the
/// full JID": a resource that has not sent initial presence still gets what is addressed to
/// it.
#[tokio::test]
async fn a_message_to_a_connected_full_jid_is_delivered_before_initial_presence() {
    let (router, romeo) = server().await;
    let mut juliet = connected(&router, "juliet@example.org/balcony").await;
    send(&router, &romeo, message("juliet@example.org/balcony", "chat", "c1")).await;
    assert_eq!(juliet.received_ids(), ["c1"]);
}

/// RFC 6121 §8.5.3.1: "For a presence stanza with no 'type' attribute or a 'type' attribute
/// of 'unavailable', the server MUST deliver the stanza to the resource."
#[tokio::test]
async fn presence_to_a_bound_full_jid_goes_to_that_resource() {
    let (router, romeo) = server().await;
    let mut balcony = available(&router, "juliet@example.org/balcony", 0).await;
    let mut garden = available(&router, "juliet@example.org/garden", 0).await;
    send(&router, &romeo, presence("juliet@example.org/balcony", None, "p1")).await;
    send(&router, &romeo, presence("juliet@example.org/balcony", Some("unavailable"), "p2")).await;
    assert_eq!(balcony.received_ids(), ["p1", "p2"]);
    garden.assert_nothing();
}

/// RFC 6121 §8.5.3.1: "For an IQ stanza of type 'result' or 'error', the server MUST deliver
/// the stanza to the resource."
#[tokio::test]
async fn an_iq_result_or_error_to_a_bound_full_jid_goes_to_that_resource() {
    let (router, romeo) = server().await;
    let mut juliet = connected(&router, "juliet@example.org/balcony").await;
    let result = stanza("<iq xmlns='jabber:client' to='juliet@example.org/balcony' type='result' id='r1'/>");
    send(&router, &romeo, result).await;
    let error = stanza(
        "<iq xmlns='jabber:client' to='juliet@example.org/balcony' type='error' id='r2'>\
         <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    send(&router, &romeo, error).await;
    assert_eq!(juliet.received_ids(), ["r1", "r2"]);
}

/// RFC 6121 §8.5.3.1: an IQ get or set to a full JID "SHOULD NOT" be delivered when the
/// recipient does not share presence with the requester (subscription "both"/"from" or
/// directed presence), to prevent presence leaks (§11); `service-unavailable` instead.
///
/// Deviation: the router delivers it whatever the subscription, and no module's `Inbound`
/// stage checks it either. Here romeo has no subscription to juliet and his IQ still reaches
/// her resource.
#[tokio::test]
async fn an_iq_get_to_a_bound_full_jid_is_delivered_without_a_presence_check() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 0).await;
    send(&router, &romeo, iq("juliet@example.org/balcony", "get", "q1")).await;
    assert_eq!(juliet.received_ids(), ["q1"]);
    romeo.assert_nothing();
}

// §8.5.3.2: full JID, no such resource.

/// RFC 6121 §8.5.3.2.1, type "chat", with a non-negative available resource: delivered as
/// to the bare JID (the "most available" resource; table 1, "full no match": M). The `to`
/// is left as it was sent.
#[tokio::test]
async fn a_chat_to_an_unknown_resource_is_handled_as_to_the_bare_jid() {
    let (router, romeo) = server().await;
    let mut high = available(&router, "juliet@example.org/high", 5).await;
    let mut low = available(&router, "juliet@example.org/low", 1).await;
    send(&router, &romeo, message("juliet@example.org/gone", "chat", "c1")).await;
    let got = high.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].attr("id"), Some("c1"));
    assert_eq!(got[0].attr("to"), Some("juliet@example.org/gone"));
    low.assert_nothing();
}

/// RFC 6121 §8.5.3.2.1, type "chat", with no available resource (none at all, or only
/// negative ones): "store the message offline for later delivery or [...] return an error
/// stanza [...] <service-unavailable/>". With no module storing it: bounced.
#[tokio::test]
async fn a_chat_to_an_unknown_resource_without_available_resources_is_bounced() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, message("rosaline@example.org/gone", "chat", "c1")).await;
    romeo.assert_error("c1", "service-unavailable");
    let mut negative = available(&router, "juliet@example.org/negative", -1).await;
    send(&router, &romeo, message("juliet@example.org/gone", "chat", "c2")).await;
    romeo.assert_error("c2", "service-unavailable");
    negative.assert_nothing();
}

/// RFC 6121 §8.5.3.2.1: "For a message stanza of type 'normal', 'groupchat', or 'headline',
/// the server MUST either (a) silently ignore the stanza or (b) return an error stanza to the
/// sender" (table 1, "full no match", normal: S/E).
///
/// Deviation: a normal message (or one without `type`) is handled as a chat is, as to the
/// bare JID: delivered to the highest non-negative resource, or bounced when there is none
/// (as Prosody does, and as RFC 6120 §10.5.4 describes for any stanza).
#[tokio::test]
async fn a_normal_message_to_an_unknown_resource_is_handled_as_to_the_bare_jid() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 0).await;
    send(&router, &romeo, message("juliet@example.org/gone", "normal", "n1")).await;
    send(&router, &romeo, untyped_message("juliet@example.org/gone", "n2")).await;
    assert_eq!(juliet.received_ids(), ["n1", "n2"]);
    romeo.assert_nothing();
    send(&router, &romeo, message("rosaline@example.org/gone", "normal", "n3")).await;
    romeo.assert_error("n3", "service-unavailable");
}

/// RFC 6121 §8.5.3.2.1: a groupchat to no such resource is ignored or bounced; the router
/// bounces it with `service-unavailable`, and does not fall back to the bare JID.
#[tokio::test]
async fn a_groupchat_to_an_unknown_resource_is_bounced() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 0).await;
    send(&router, &romeo, message("juliet@example.org/gone", "groupchat", "g1")).await;
    romeo.assert_error("g1", "service-unavailable");
    juliet.assert_nothing();
}

/// RFC 6121 §8.5.3.2.1: a headline to no such resource is ignored or bounced; the router
/// silently drops it, and does not fall back to the bare JID.
#[tokio::test]
async fn a_headline_to_an_unknown_resource_is_dropped() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 0).await;
    send(&router, &romeo, message("juliet@example.org/gone", "headline", "h1")).await;
    romeo.assert_nothing();
    juliet.assert_nothing();
}

/// RFC 6121 §8.5.3.2.1: "For a message stanza of type 'error', the server MUST silently
/// ignore the stanza."
#[tokio::test]
async fn an_error_message_to_an_unknown_resource_is_dropped() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 0).await;
    send(&router, &romeo, message("juliet@example.org/gone", "error", "e1")).await;
    romeo.assert_nothing();
    juliet.assert_nothing();
}

/// RFC 6121 §8.5.3.2.2: presence with no type or "unavailable", and "subscribed",
/// "unsubscribe", "unsubscribed": "the server MUST silently ignore the stanza" (nothing to
/// the account's other resources either). "subscribe" and "probe" are for modules (§3.1.3,
/// §4.3); with none, the router drops them too.
#[tokio::test]
async fn presence_to_an_unknown_resource_is_dropped() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 0).await;
    let kinds = [None, Some("unavailable"), Some("subscribed"), Some("unsubscribe"), Some("unsubscribed")];
    for kind in kinds.into_iter().chain([Some("subscribe"), Some("probe")]) {
        send(&router, &romeo, presence("juliet@example.org/gone", kind, "p1")).await;
    }
    romeo.assert_nothing();
    juliet.assert_nothing();
}

/// RFC 6121 §8.5.3.2.3: "For an IQ stanza, the server MUST return a <service-unavailable/>
/// stanza error to the sender", without handing it to another resource.
#[tokio::test]
async fn an_iq_get_or_set_to_an_unknown_resource_is_service_unavailable() {
    let (router, mut romeo) = server().await;
    let mut juliet = available(&router, "juliet@example.org/balcony", 0).await;
    send(&router, &romeo, iq("juliet@example.org/gone", "get", "q1")).await;
    romeo.assert_error("q1", "service-unavailable");
    send(&router, &romeo, iq("juliet@example.org/gone", "set", "q2")).await;
    romeo.assert_error("q2", "service-unavailable");
    juliet.assert_nothing();
}

/// RFC 6121 §8.5.3.2.3 says "For an IQ stanza" without naming types, but an IQ result or
/// error is never answered (RFC 6120 §8.2.3 rule 4, and §8.3.1 for errors): the router
/// drops them.
///
/// Doubtful: for a result, RFC 6120 forbids only an IQ *response* to a response; the
/// router's reading (bounce get and set only, as Prosody does) is the common one.
#[tokio::test]
async fn an_iq_result_or_error_to_an_unknown_resource_is_dropped() {
    let (router, mut romeo) = server().await;
    let result = stanza("<iq xmlns='jabber:client' to='juliet@example.org/gone' type='result' id='r1'/>");
    send(&router, &romeo, result).await;
    let error = stanza(
        "<iq xmlns='jabber:client' to='juliet@example.org/gone' type='error' id='r2'>\
         <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    send(&router, &romeo, error).await;
    romeo.assert_nothing();
}

// §8.5.1: no such account.

/// RFC 6121 §8.5.1: "For a message stanza, the server MUST either (a) silently ignore the
/// message or (b) return a <service-unavailable/> stanza error to the sender": the router
/// bounces chat, normal and groupchat, to the bare JID and to a full one.
#[tokio::test]
async fn a_message_to_a_missing_account_is_bounced_with_service_unavailable() {
    let (router, mut romeo) = server().await;
    for to in [NOBODY, "nobody@example.org/desk"] {
        for kind in ["chat", "normal", "groupchat"] {
            let id = format!("{kind}-{to}");
            send(&router, &romeo, message(to, kind, &id)).await;
            romeo.assert_error(&id, "service-unavailable");
        }
        send(&router, &romeo, untyped_message(to, "untyped")).await;
        romeo.assert_error("untyped", "service-unavailable");
    }
}

/// RFC 6121 §8.5.1 lets the server ignore or bounce any message to a missing account, and
/// table 1 (§8.5.4, "account does not exist") gives S (silently ignore) for a headline to
/// the bare JID (S/E for a full one): a headline is ignored either way.
#[tokio::test]
async fn a_headline_to_a_missing_account_is_ignored() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, message(NOBODY, "headline", "h1")).await;
    send(&router, &romeo, message("nobody@example.org/desk", "headline", "h2")).await;
    romeo.assert_nothing();
}

/// RFC 6120 §8.3.1: an error is never answered with an error, so an error message to a
/// missing account is dropped.
#[tokio::test]
async fn an_error_message_to_a_missing_account_is_dropped() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, message(NOBODY, "error", "e1")).await;
    send(&router, &romeo, message("nobody@example.org/desk", "error", "e2")).await;
    romeo.assert_nothing();
}

/// RFC 6121 §8.5.1: "For an IQ stanza, the server MUST return a <service-unavailable/>
/// stanza error to the sender" (also RFC 6120 §10.5.3.1), to the bare JID or a full one.
#[tokio::test]
async fn an_iq_to_a_missing_account_is_bounced_with_service_unavailable() {
    let (router, mut romeo) = server().await;
    send(&router, &romeo, iq(NOBODY, "get", "q1")).await;
    romeo.assert_error("q1", "service-unavailable");
    send(&router, &romeo, iq(NOBODY, "set", "q2")).await;
    romeo.assert_error("q2", "service-unavailable");
    send(&router, &romeo, iq("nobody@example.org/desk", "get", "q3")).await;
    romeo.assert_error("q3", "service-unavailable");
}

/// RFC 6121 §8.5.1: presence with no type, "unavailable", and the four subscription types:
/// "the server MUST silently ignore the stanza"; "probe": ignore or answer "unsubscribed"
/// (the router ignores it).
#[tokio::test]
async fn presence_to_a_missing_account_is_silently_dropped() {
    let (router, mut romeo) = server().await;
    let kinds = [None, Some("unavailable"), Some("subscribe"), Some("subscribed")];
    for kind in kinds.into_iter().chain([Some("unsubscribe"), Some("unsubscribed"), Some("probe")]) {
        send(&router, &romeo, presence(NOBODY, kind, "p1")).await;
        send(&router, &romeo, presence("nobody@example.org/desk", kind, "p2")).await;
    }
    romeo.assert_nothing();
}
