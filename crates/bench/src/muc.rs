//! Group chat fan-out: one MUC room or MIX channel with many occupants, a few of them
//! talking; every groupchat message is delivered to every occupant (the sender included:
//! MUC reflects, MIX sends a channel's messages to all participants). Reports deliveries per
//! second, the time the last occupant needs to join, and the server's memory growth per occupant.

use crate::client::{Client, Fleet};
use crate::skim::{find, number_at};
use crate::{login_many, percentile_ms, rss_kib};
use anyhow::{Context, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const MIX_CORE: &str = "urn:xmpp:mix:core:1";
const MIX_PAM: &str = "urn:xmpp:mix:pam:2";

/// Which kind of group chat.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    /// XEP-0045: joined with presence to the room, answered with the subject.
    Muc,
    /// XEP-0369: joined through the user's own server (XEP-0405 client-join).
    Mix,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Muc => "muc",
            Kind::Mix => "mix",
        }
    }

    /// The first occupant makes the room (or channel) room enough for everyone.
    async fn create(self, c: &mut Client, room: &str, occupants: usize) -> anyhow::Result<()> {
        match self {
            Kind::Muc => create_room(c, room, occupants).await,
            Kind::Mix => create_channel(c, room).await,
        }
    }

    async fn join(self, c: &mut Client, room: &str, nick: &str) -> anyhow::Result<()> {
        match self {
            Kind::Muc => join(c, room, nick).await,
            Kind::Mix => client_join(c, room, nick).await,
        }
    }
}

pub struct Fanout {
    pub kind: Kind,
    pub occupants: usize,
    pub senders: usize,
    pub window: u64,
    pub duration: u64,
    pub service: String,
    pub server_pid: Option<u32>,
    pub concurrency: usize,
}

pub async fn fanout(fleet: &Fleet, f: Fanout) -> anyhow::Result<serde_json::Value> {
    if f.occupants < 2 || f.senders == 0 || f.senders >= f.occupants {
        bail!("need at least two occupants and fewer senders than occupants");
    }
    let (kind, room) = (f.kind, format!("fanout{}@{}", std::process::id(), f.service));
    let rss_start = f.server_pid.map(rss_kib).transpose()?;
    let clients = login_many(fleet, f.occupants, f.concurrency).await?;
    let mut pending = clients.into_iter();
    let epoch = Instant::now();
    let shared = Arc::new(Shared::default());

    // Every occupant reads its stream from the moment it is in (as a client does), so the
    // joins that follow do not pile up unread presence.
    let spawn_reader = |c: Client, index: usize| {
        let shared = shared.clone();
        let (room, window) = (room.clone(), f.window);
        let sender = index < f.senders;
        tokio::spawn(async move { occupant(c, index, sender.then_some((room, window)), shared, epoch).await })
    };
    let mut tasks = Vec::new();
    // The first occupant creates the room and makes it an instant room large enough.
    let mut first = pending.next().context("no occupants")?;
    kind.create(&mut first, &room, f.occupants).await?;
    tasks.push(spawn_reader(first, 0));
    let mut last = pending.next_back().context("no last occupant")?;
    // The others join, a few at a time; each join ends with the room's subject.
    let mut index = 1;
    while pending.len() > 0 {
        let mut joins = Vec::new();
        for mut c in pending.by_ref().take(f.concurrency.max(1)) {
            let room = room.clone();
            joins.push((
                index,
                tokio::spawn(async move { kind.join(&mut c, &room, &format!("o{index}")).await.map(|()| c) }),
            ));
            index += 1;
        }
        for (i, j) in joins {
            tasks.push(spawn_reader(j.await??, i));
        }
    }
    let started = Instant::now();
    kind.join(&mut last, &room, "last").await?;
    let last_join_ms = started.elapsed().as_secs_f64() * 1000.0;
    tasks.push(spawn_reader(last, f.occupants - 1));
    let rss_joined = f.server_pid.map(rss_kib).transpose()?;

    shared.go.store(true, Ordering::Relaxed);
    // Let the pipeline fill before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counted_from = Instant::now();
    let start_count = shared.received.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(f.duration)).await;
    let delivered = shared.received.load(Ordering::Relaxed) - start_count;
    let secs = counted_from.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::Relaxed);
    let (mut sent, mut latencies) = (0, Vec::new());
    for t in tasks {
        let (c, n, l) = t.await?;
        sent += n;
        latencies.extend(l);
        c.close().await;
    }
    latencies.sort_unstable();
    let pct = |p: f64| percentile_ms(&latencies, p);
    let per_occupant = match (rss_start, rss_joined) {
        (Some(a), Some(b)) => serde_json::json!(((b.saturating_sub(a) * 1024) as f64 / f.occupants as f64).round()),
        _ => serde_json::Value::Null,
    };
    Ok(serde_json::json!({
        "scenario": kind.name(), "occupants": f.occupants, "senders": f.senders, "window": f.window,
        "sent": sent, "deliveries_per_sec": (delivered as f64 / secs).round(),
        "last_join_ms": (last_join_ms * 10.0).round() / 10.0,
        "reflection_ms_p50": pct(0.5), "reflection_ms_p99": pct(0.99),
        "rss_bytes_per_session_and_occupant": per_occupant,
    }))
}

/// What the occupants' tasks share.
#[derive(Default)]
struct Shared {
    /// Everyone is in: senders start.
    go: AtomicBool,
    stop: AtomicBool,
    /// Groupchat messages received, all occupants together.
    received: AtomicU64,
}

/// One occupant until `stop`: counts the room's messages in its raw stream; a sender also
/// keeps `window` messages of its own in flight and times their reflections. Returns the
/// client, messages sent and reflection latencies in microseconds.
async fn occupant(
    mut c: Client,
    index: usize,
    sender: Option<(String, u64)>,
    shared: Arc<Shared>,
    epoch: Instant,
) -> (Client, u64, Vec<u64>) {
    let marker = format!("<body>s{index}t");
    let mut scanner = Scanner::new(marker.as_bytes());
    let mut latencies = Vec::new();
    let (mut sent, mut reflected) = (0u64, 0u64);
    let mut buf = vec![0u8; 16 * 1024];
    let mut data = c.take_unparsed();
    let body = "x".repeat(90);
    while !shared.stop.load(Ordering::Relaxed) {
        let stamps = scanner.feed(&data, epoch);
        shared.received.fetch_add(scanner.take_count(), Ordering::Relaxed);
        reflected += stamps.len() as u64;
        latencies.extend(stamps);
        if let Some((room, window)) = &sender
            && shared.go.load(Ordering::Relaxed)
        {
            let mut batch = Vec::new();
            while sent - reflected < *window {
                let stamp = epoch.elapsed().as_micros();
                let m = format!("<message to='{room}' type='groupchat'><body>s{index}t{stamp}e{body}</body></message>");
                batch.extend_from_slice(m.as_bytes());
                sent += 1;
            }
            if !batch.is_empty() && c.send_raw(&batch).await.is_err() {
                break;
            }
        }
        data.clear();
        match tokio::time::timeout(Duration::from_millis(100), c.read_raw(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    (c, sent, latencies)
}

/// Joins without history and waits for the end of the join: the room's subject.
async fn join(c: &mut Client, room: &str, nick: &str) -> anyhow::Result<()> {
    let presence = format!(
        "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
    );
    c.send_raw(presence.as_bytes()).await?;
    loop {
        let el = c.next().await?;
        if el.name() == "presence" && el.attr("type") == Some("error") {
            bail!("joining {room} as {nick} failed: {}", String::from(&el));
        }
        if el.name() == "message" && el.get_child("subject", "jabber:client").is_some() {
            return Ok(());
        }
    }
}

/// Creates a channel on the MIX service and joins it (a channel's creator is not yet a
/// participant).
async fn create_channel(c: &mut Client, channel: &str) -> anyhow::Result<()> {
    let (name, service) = channel.split_once('@').context("a channel JID has a node")?;
    let create =
        format!("<iq type='set' to='{service}' id='create'><create xmlns='{MIX_CORE}' channel='{name}'/></iq>");
    let reply = c.request(&create, "create").await?;
    if reply.attr("type") != Some("result") {
        bail!("creating {channel} failed: {}", String::from(&reply));
    }
    client_join(c, channel, "o0").await
}

/// Becomes available (a channel's messages go to available clients) and joins through the
/// user's own server, subscribed to the messages node only.
async fn client_join(c: &mut Client, channel: &str, nick: &str) -> anyhow::Result<()> {
    c.send_raw(b"<presence/>").await?;
    let join = format!(
        "<iq type='set' id='join'><client-join xmlns='{MIX_PAM}' channel='{channel}'><join xmlns='{MIX_CORE}'>\
         <subscribe node='urn:xmpp:mix:nodes:messages'/><nick>{nick}</nick></join></client-join></iq>"
    );
    let reply = c.request(&join, "join").await?;
    if reply.attr("type") != Some("result") {
        bail!("joining {channel} as {nick} failed: {}", String::from(&reply));
    }
    Ok(())
}

/// Enters the room first: a new room is locked until its owner accepts a configuration,
/// here the defaults with room for every occupant.
async fn create_room(c: &mut Client, room: &str, occupants: usize) -> anyhow::Result<()> {
    c.send_raw(format!("<presence to='{room}/o0'><x xmlns='http://jabber.org/protocol/muc'/></presence>").as_bytes())
        .await?;
    let created = loop {
        let el = c.next().await?;
        if el.name() != "presence" {
            continue;
        }
        if el.attr("type") == Some("error") {
            bail!("creating {room} failed: {}", String::from(&el));
        }
        let Some(x) = el.get_child("x", MUC_USER) else { continue };
        let codes: Vec<_> = x.children().filter(|s| s.name() == "status").filter_map(|s| s.attr("code")).collect();
        if codes.contains(&"110") {
            break codes.contains(&"201");
        }
    };
    if created {
        let form = format!(
            "<iq type='set' to='{room}' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>\
             <field var='muc#roomconfig_maxusers'><value>{}</value></field></x></query></iq>",
            occupants + 10
        );
        let reply = c.request(&form, "cfg").await?;
        if reply.attr("type") != Some("result") {
            bail!("configuring {room} failed: {}", String::from(&reply));
        }
    }
    Ok(())
}

/// Finds complete `<message>` elements in a byte stream that arrives in pieces: counts
/// them, and reads the send time out of those whose body starts with `marker`.
struct Scanner {
    marker: Vec<u8>,
    buf: Vec<u8>,
    count: u64,
}

impl Scanner {
    const END: &[u8] = b"</message>";
    const START: &[u8] = b"<message";

    fn new(marker: &[u8]) -> Self {
        Self { marker: marker.to_vec(), buf: Vec::new(), count: 0 }
    }

    /// Latencies (microseconds since `epoch`) of this occupant's own messages in `data`.
    fn feed(&mut self, data: &[u8], epoch: Instant) -> Vec<u64> {
        self.buf.extend_from_slice(data);
        let mut stamps = Vec::new();
        let mut done = 0;
        while let Some(end) = find(&self.buf[done..], Self::END, 0) {
            let message = &self.buf[done..done + end];
            self.count += 1;
            if let Some(sent) =
                find(message, &self.marker, 0).and_then(|at| number_at(&message[at + self.marker.len()..]))
            {
                stamps.push((epoch.elapsed().as_micros() as u64).saturating_sub(sent));
            }
            done += end + Self::END.len();
        }
        // Keep only what may be the start of a message not complete yet.
        let rest = &self.buf[done..];
        let keep = match rfind(rest, Self::START) {
            Some(start) => rest.len() - start,
            None => rest.len().min(Self::START.len() - 1),
        };
        self.buf.drain(..self.buf.len() - keep);
        stamps
    }

    fn take_count(&mut self) -> u64 {
        std::mem::take(&mut self.count)
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::Scanner;
    use std::time::Instant;

    #[test]
    fn counts_messages_and_finds_own_stamps_across_reads() {
        let epoch = Instant::now();
        let stream =
            b"<message><body>s1t0exx</body></message><presence/><message from='r'><body>s2t0e</body></message>";
        for split in 0..stream.len() {
            let mut s = Scanner::new(b"<body>s1t");
            let stamps = [s.feed(&stream[..split], epoch), s.feed(&stream[split..], epoch)].concat();
            assert_eq!(s.take_count(), 2, "split at {split}");
            assert_eq!(stamps.len(), 1, "split at {split}");
        }
    }
}
