//! Rosters: filling every account's roster before the login scenario, and the big-roster
//! login (one account with hundreds of items, a share of them online).

use crate::client::{Client, Fleet};
use crate::percentile_ms;
use anyhow::{Context, bail};
use rhein_proto::{Element, xml};
use std::time::{Duration, Instant};

const NS_ROSTER: &str = "jabber:iq:roster";

/// The items of a roster result (and its version, if the server versions rosters).
fn items_of(result: &Element) -> (Vec<(String, String)>, Option<String>) {
    let Some(query) = result.get_child("query", NS_ROSTER) else { return (Vec::new(), None) };
    let items = query
        .children()
        .filter(|i| i.name() == "item")
        .map(|i| (i.attr("jid").unwrap_or_default().to_owned(), i.attr("subscription").unwrap_or("none").to_owned()))
        .collect();
    (items, query.attr("ver").map(str::to_owned))
}

async fn roster(c: &mut Client, ver: Option<&str>) -> anyhow::Result<Element> {
    let ver = ver.map(|v| format!(" ver='{v}'")).unwrap_or_default();
    c.request(&format!("<iq type='get' id='roster'><query xmlns='{NS_ROSTER}'{ver}/></iq>"), "roster").await
}

/// Adds `jids` to a roster (no subscription), one set at a time.
async fn add_items(c: &mut Client, jids: impl Iterator<Item = String>) -> anyhow::Result<()> {
    for (n, jid) in jids.enumerate() {
        let id = format!("add{n}");
        let set = format!("<iq type='set' id='{id}'><query xmlns='{NS_ROSTER}'><item jid='{jid}'/></query></iq>");
        let answer = c.request(&set, &id).await?;
        if answer.attr("type") != Some("result") {
            bail!("roster set of {jid} refused");
        }
    }
    Ok(())
}

/// Gives each account `items` roster items (the next accounts in line) unless it has them.
pub(crate) async fn fill_all(fleet: &Fleet, items: usize) -> anyhow::Result<()> {
    if items == 0 {
        return Ok(());
    }
    for i in 0..fleet.accounts {
        let mut c = fleet.login(i).await?;
        let (have, _) = items_of(&roster(&mut c, None).await?);
        let wanted = (1..=items).map(|k| fleet.jid(i + k));
        add_items(&mut c, wanted.filter(|j| !have.iter().any(|(h, _)| h == j))).await?;
        c.close().await;
    }
    Ok(())
}

pub(crate) struct BigRoster {
    pub items: usize,
    pub online: usize,
    pub logins: usize,
}

/// Account 0 with `items` roster items: every other account as a contact (subscribed to
/// those that are online), the rest addresses of nobody. `online` sessions of those contacts are available
/// (some contacts with two resources when there are fewer contacts than that). Each login
/// of account 0 measures the roster result and the contacts' presence after its initial
/// presence; a last login with the version it got measures what an unchanged roster costs.
pub(crate) async fn big(fleet: &Fleet, b: BigRoster) -> anyhow::Result<serde_json::Value> {
    let contacts = fleet.accounts.saturating_sub(1).min(b.items);
    if contacts == 0 || b.online == 0 {
        bail!("the big roster needs at least two accounts and one online contact");
    }
    let jid = |i: usize| fleet.jid(i);
    let owner = jid(0);
    let mut online = Vec::with_capacity(b.online);
    for n in 0..b.online {
        let mut c = fleet.login_as(n, 1 + n % contacts).await?;
        c.send_raw(b"<presence/>").await?;
        online.push(c);
    }
    // Set-up, kept across runs: the items, and a subscription to every real contact.
    let mut me = fleet.login(0).await?;
    let (have, _) = items_of(&roster(&mut me, None).await?);
    let ghosts = (0..b.items - contacts).map(|k| format!("nobody{k}@{}", fleet.target.domain));
    let wanted = (1..=contacts).map(jid).chain(ghosts);
    add_items(&mut me, wanted.filter(|j| !have.iter().any(|(h, _)| h == j))).await?;
    let subscribed = |j: &str| have.iter().any(|(h, s)| h == j && matches!(s.as_str(), "to" | "both"));
    for (i, c) in online.iter_mut().enumerate().take(contacts) {
        let contact = jid(1 + i);
        if subscribed(&contact) {
            continue;
        }
        me.send_raw(format!("<presence type='subscribe' to='{contact}'/>").as_bytes()).await?;
        loop {
            let el = c.next().await.with_context(|| format!("{contact} waiting for the subscription request"))?;
            if el.name() == "presence" && el.attr("type") == Some("subscribe") {
                break;
            }
        }
        c.send_raw(format!("<presence type='subscribed' to='{owner}'/>").as_bytes()).await?;
    }
    me.close().await;
    // The contacts' sessions read whatever comes (account 0's presence) until the end.
    let drains: Vec<_> =
        online.into_iter().map(|mut c| tokio::spawn(async move { while c.next().await.is_ok() {} })).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (mut roster_us, mut presence_us, mut bytes, mut ver, mut got_items) = (Vec::new(), Vec::new(), 0, None, 0);
    for n in 0..b.logins.max(1) {
        let mut me = fleet.login_as(n, 0).await?;
        let asked = Instant::now();
        let result = roster(&mut me, None).await?;
        roster_us.push(asked.elapsed().as_micros() as u64);
        bytes = xml::to_bytes(&result).len();
        let (items, v) = items_of(&result);
        (got_items, ver) = (items.len(), v);
        let announced = Instant::now();
        me.send_raw(b"<presence/>").await?;
        let mut seen = 0;
        while seen < b.online {
            let el = tokio::time::timeout(Duration::from_secs(10), me.next())
                .await
                .context("waiting for the contacts' presence")??;
            let from_contact = el.attr("from").is_some_and(|f| !f.starts_with(&format!("{owner}/")));
            if el.name() == "presence" && el.attr("type").is_none() && from_contact {
                seen += 1;
            }
        }
        presence_us.push(announced.elapsed().as_micros() as u64);
        me.close().await;
    }
    // Again with the version just received: a server that versions rosters answers with
    // an empty result (RFC 6121 §2.6.3).
    let mut me = fleet.login(0).await?;
    let asked = Instant::now();
    let again = roster(&mut me, ver.as_deref()).await?;
    let versioned_ms = asked.elapsed().as_secs_f64() * 1000.0;
    let (resent, _) = items_of(&again);
    me.close().await;
    for d in drains {
        d.abort();
    }
    roster_us.sort_unstable();
    presence_us.sort_unstable();
    Ok(serde_json::json!({
        "scenario": "roster", "items": got_items, "online": b.online, "logins": b.logins,
        "roster_ms_p50": percentile_ms(&roster_us, 0.5), "roster_ms_p99": percentile_ms(&roster_us, 0.99),
        "presence_ms_p50": percentile_ms(&presence_us, 0.5), "presence_ms_p99": percentile_ms(&presence_us, 0.99),
        "roster_bytes": bytes, "versioned": ver.is_some(), "versioned_ms": versioned_ms,
        "versioned_bytes": xml::to_bytes(&again).len(), "versioned_items_resent": resent.len(),
    }))
}
