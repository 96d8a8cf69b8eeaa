//! PEP fan-out (XEP-0163): one account publishes to a node of its own again and again, and
//! every contact that shares presence with it and advertises `<node>+notify` in its entity
//! capabilities (XEP-0115) gets each item. Reports notifications delivered per second and
//! the time from publish to notification.
//!
//! Account 0 publishes; accounts 1..=contacts are its contacts, with mutual presence
//! subscriptions made on the first run and kept.

use crate::client::{Client, Fleet};
use crate::skim;
use crate::{login_many, percentile_ms};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The node published to; contacts want its notifications.
const NODE: &str = "urn:xmpp:rhein-bench:0";
const CAPS_NODE: &str = "https://rhein.im/bench";
const IDENTITY: &str = "client/pc//rhein-bench";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

pub struct PepFanout {
    pub contacts: usize,
    /// Publishes in flight.
    pub window: u64,
    pub duration: u64,
    pub concurrency: usize,
}

/// What the contacts' clients support, sorted as XEP-0115 §5.1 orders them.
fn features() -> [String; 4] {
    let mut f = ["http://jabber.org/protocol/caps".into(), DISCO_INFO.into(), NODE.into(), format!("{NODE}+notify")];
    f.sort();
    f
}

/// The verification string's hash (XEP-0115 §5.1): one identity, the features, no forms.
fn caps_ver() -> String {
    let mut s = format!("{IDENTITY}<");
    for f in features() {
        s.push_str(&f);
        s.push('<');
    }
    B64.encode(Sha1::digest(s.as_bytes()))
}

pub async fn fanout(fleet: &Fleet, p: PepFanout) -> anyhow::Result<serde_json::Value> {
    if p.contacts == 0 || p.contacts >= fleet.accounts {
        bail!("pep needs --accounts above --contacts (account 0 publishes to the others)");
    }
    subscribe_both(fleet, p.contacts).await?;
    let mut owner = fleet.login(0).await?;
    owner.send_raw(b"<presence/>").await?;
    let ver = caps_ver();
    // The contacts: accounts 1..=contacts (login `i` is account `i`; the zeroth is dropped).
    let mut contacts = login_many(fleet, p.contacts + 1, p.concurrency).await?;
    contacts.remove(0).close().await;
    let presence = format!(
        "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{CAPS_NODE}' ver='{ver}'/></presence>"
    );
    let epoch = Instant::now();
    let shared = Arc::new(Shared::default());
    let mut readers = Vec::new();
    for mut c in contacts {
        c.send_raw(presence.as_bytes()).await?;
        let (shared, ver) = (shared.clone(), ver.clone());
        readers.push(tokio::spawn(async move { contact(c, &ver, shared, epoch).await }));
    }
    // Every contact's capabilities known to the server: a first item reaches them all. Its
    // payload is this run's own (the node's last item from an earlier run comes to contacts
    // as they become available).
    let started = Instant::now();
    publish(&mut owner, "first", &first_payload()).await?;
    let want = p.contacts as u64;
    while shared.firsts.load(Ordering::Relaxed) < want {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("after 30 s, {} of {want} contacts had the first item", shared.firsts.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    // `window` publishes in flight, counted done by their results.
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut sent, mut done) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                while sent - done < p.window {
                    let stamp = epoch.elapsed().as_micros() as u64;
                    if publish(&mut owner, "current", &format!("T{stamp}E")).await.is_err() {
                        return (owner, sent);
                    }
                    sent += 1;
                }
                match tokio::time::timeout(Duration::from_millis(100), owner.next_raw()).await {
                    Ok(Ok(el)) if el.starts_with(b"<iq") && skim::attribute(&el, "type") == Some(b"result") => {
                        done += 1
                    }
                    Ok(Err(_)) => break,
                    _ => {}
                }
            }
            (owner, sent)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (counted_from, start_count) = (Instant::now(), shared.received.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs(p.duration)).await;
    let delivered = shared.received.load(Ordering::Relaxed) - start_count;
    let secs = counted_from.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    shared.stop.store(true, Ordering::Relaxed);
    let (owner, published) = publisher.await?;
    owner.close().await;
    let mut latencies = Vec::new();
    for r in readers {
        let (c, l) = r.await?;
        latencies.extend(l);
        c.close().await;
    }
    latencies.sort_unstable();
    Ok(serde_json::json!({
        "scenario": "pep", "contacts": p.contacts, "window": p.window, "published": published,
        "deliveries_per_sec": (delivered as f64 / secs).round(),
        "first_item_ms": (first_ms * 10.0).round() / 10.0,
        "notification_ms_p50": percentile_ms(&latencies, 0.5),
        "notification_ms_p99": percentile_ms(&latencies, 0.99),
    }))
}

/// The first item's payload, this run's own.
fn first_payload() -> String {
    format!("F{}E", std::process::id())
}

/// Publishes item `id` (its payload `T<send time>E`, or the first's), without waiting for
/// the result.
async fn publish(c: &mut Client, id: &str, payload: &str) -> anyhow::Result<()> {
    let iq = format!(
        "<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{NODE}'>\
         <item id='{id}'><entry xmlns='{NODE}'>{payload}</entry></item></publish></pubsub></iq>"
    );
    c.send_raw(iq.as_bytes()).await
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Contacts that had this run's first item.
    firsts: AtomicU64,
    /// Notifications with a timed item, all contacts together.
    received: AtomicU64,
}

/// One contact until `stop`: answers the server's disco#info query about its capabilities,
/// counts notifications, and times one in eight of them.
async fn contact(mut c: Client, ver: &str, shared: Arc<Shared>, epoch: Instant) -> (Client, Vec<u64>) {
    let mut latencies = Vec::new();
    let mut seen = 0u64;
    let first = format!(">{}<", first_payload()).into_bytes();
    while !shared.stop.load(Ordering::Relaxed) {
        let Ok(Ok(el)) = tokio::time::timeout(Duration::from_millis(100), c.next_raw()).await else { continue };
        if el.starts_with(b"<iq") && skim::find(&el, DISCO_INFO.as_bytes(), 0).is_some() {
            if answer_disco(&mut c, &el, ver).await.is_err() {
                break;
            }
            continue;
        }
        if !el.starts_with(b"<message") {
            continue;
        }
        if skim::find(&el, &first, 0).is_some() {
            shared.firsts.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let Some(at) = skim::find(&el, b">T", 0) else { continue };
        shared.received.fetch_add(1, Ordering::Relaxed);
        seen += 1;
        let stamp = skim::number_at(&el[at + 2..]);
        if seen.is_multiple_of(8)
            && let Some(sent) = stamp.filter(|s| *s > 0)
        {
            latencies.push((epoch.elapsed().as_micros() as u64).saturating_sub(sent));
        }
    }
    (c, latencies)
}

/// The disco#info result for our capabilities node (XEP-0115 §6.2).
async fn answer_disco(c: &mut Client, query: &[u8], ver: &str) -> anyhow::Result<()> {
    let text = |name| skim::attribute(query, name).map(|v| String::from_utf8_lossy(v).into_owned());
    let (Some(id), Some(from)) = (text("id"), text("from")) else { return Ok(()) };
    if text("type").as_deref() != Some("get") {
        return Ok(());
    }
    let features: String = features().iter().map(|f| format!("<feature var='{f}'/>")).collect();
    let answer = format!(
        "<iq type='result' id='{id}' to='{from}'><query xmlns='{DISCO_INFO}' node='{CAPS_NODE}#{ver}'>\
         <identity category='client' type='pc' name='rhein-bench'/>{features}</query></iq>"
    );
    c.send_raw(answer.as_bytes()).await
}

/// Mutual presence subscriptions between account 0 and each contact, where missing: the
/// contact asks, the owner approves; the owner asks, the contact approves.
async fn subscribe_both(fleet: &Fleet, contacts: usize) -> anyhow::Result<()> {
    // Requests reach available resources only (RFC 6121 §3.1.3).
    let mut owner = fleet.login(0).await?;
    owner.send_raw(b"<presence/>").await?;
    let roster = owner.request("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>", "r").await?;
    // The owner's subscription state with each contact, as its roster has it.
    let state: HashMap<String, String> = roster
        .get_child("query", "jabber:iq:roster")
        .map(|q| {
            q.children()
                .filter_map(|i| Some((i.attr("jid")?.to_owned(), i.attr("subscription").unwrap_or("none").to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let owner_jid = fleet.jid(0);
    for i in 1..=contacts {
        let jid = fleet.jid(i);
        let now = state.get(&jid).map_or("none", String::as_str);
        if now == "both" {
            continue;
        }
        let mut contact = fleet.login(i).await?;
        contact.send_raw(b"<presence/>").await?;
        // A half already there is not asked again: the server would answer for the other
        // side without forwarding the request (RFC 6121 §3.1.3).
        if now != "from" {
            subscribe((&mut contact, &jid), (&mut owner, &owner_jid)).await?;
        }
        if now != "to" {
            subscribe((&mut owner, &owner_jid), (&mut contact, &jid)).await?;
        }
        // The owner's roster push of `both` tells the exchange is done (the owner asked
        // for its roster: it gets pushes).
        wait_for_both(&mut owner, &jid).await?;
        contact.close().await;
    }
    owner.close().await;
    Ok(())
}

/// One presence subscription: the asker asks, the approver approves once the request is in.
async fn subscribe(asker: (&mut Client, &str), approver: (&mut Client, &str)) -> anyhow::Result<()> {
    let ((asker, asker_jid), (approver, approver_jid)) = (asker, approver);
    asker.send_raw(format!("<presence type='subscribe' to='{approver_jid}'/>").as_bytes()).await?;
    wait_for_request(approver, asker_jid).await?;
    approver.send_raw(format!("<presence type='subscribed' to='{asker_jid}'/>").as_bytes()).await
}

async fn wait_for_request(c: &mut Client, from: &str) -> anyhow::Result<()> {
    loop {
        let el = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .context("waiting for a subscription request")??;
        let from_asker = el.attr("from").is_some_and(|f| f.split('/').next() == Some(from));
        if el.name() == "presence" && el.attr("type") == Some("subscribe") && from_asker {
            return Ok(());
        }
    }
}

async fn wait_for_both(c: &mut Client, with: &str) -> anyhow::Result<()> {
    loop {
        let el = tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .context("waiting for subscription both")??;
        let item = el.get_child("query", "jabber:iq:roster").and_then(|q| q.get_child("item", "jabber:iq:roster"));
        if item.is_some_and(|i| i.attr("jid") == Some(with) && i.attr("subscription") == Some("both")) {
            return Ok(());
        }
    }
}
