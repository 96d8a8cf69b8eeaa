//! `rhein-bench`: a load generator that drives any XMPP server over real TCP and TLS.
//! Scenarios are bounded in count and time and stop by themselves; each prints one JSON line.
//!
//! ```text
//! rhein-bench --addr 127.0.0.1:5222 --domain localhost --password pw idle --sessions 5000 --server-pid 1234
//! rhein-bench ... login --concurrency 64 --duration 10 --roster 20
//! rhein-bench ... roster --items 500 --online 150 --logins 50
//! rhein-bench ... messages --pairs 50 --window 64 --duration 10 [--rate 40000]
//! rhein-bench ... soak --pairs 20 --rate 50 --duration 300 --server-pid 1234
//! rhein-bench ... storm --sessions 5000 --jitter 15
//! rhein-bench --resumption ... storm --sessions 19000 --jitter 30
//! rhein-bench ... muc --occupants 1000 --senders 4 --window 8 --duration 8
//! rhein-bench ... mix --occupants 1000 --senders 4 --window 8 --duration 8
//! rhein-bench --prefix big --accounts 501 pep --contacts 500 --window 16 --duration 8
//! ```
//! Accounts `<prefix>0` .. `<prefix><accounts-1>` must exist with the same password.

mod client;
mod muc;
mod pep;
mod roster;
mod skim;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use client::{Client, Fleet, SaltCache, Target};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// This machine allows about 20,000 open files per process.
const MAX_SESSIONS: usize = 19_000;

#[derive(Parser)]
#[command(name = "rhein-bench", about = "Load generator for XMPP servers")]
struct Args {
    /// c2s address of the server under test (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value = "localhost")]
    domain: String,
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// How many accounts exist (`<prefix>0` ..).
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    #[arg(long, default_value = "bench")]
    password: String,
    /// Source addresses to spread connections over (about 28k ports each).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    sources: Vec<IpAddr>,
    /// Connect without STARTTLS (the server must allow plaintext SCRAM).
    #[arg(long)]
    no_tls: bool,
    /// Never resume a TLS session: every handshake in full, as for a client's first
    /// connection or after a server restart. By default the generator keeps session tickets
    /// as clients do, and resumes where the server issues them.
    #[arg(long)]
    full_handshakes: bool,
    /// Enable stream management with resumption (XEP-0198) on every login; the storm then
    /// resumes its sessions instead of binding new ones.
    #[arg(long)]
    resumption: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Hold N bound sessions and report the server's RSS growth per session.
    Idle {
        #[arg(long)]
        sessions: usize,
        /// PID of the server, to read its RSS.
        #[arg(long)]
        server_pid: u32,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// Log in (TLS, SCRAM-SHA-256, bind, roster, presence) and out again, as fast as possible.
    Login {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Roster items every account has (added first where missing).
        #[arg(long, default_value_t = 0)]
        roster: usize,
        /// PID of the server, to report its CPU time per login.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// One account with a big roster logs in again and again: the roster result, the
    /// online contacts' presence after its initial presence, and a versioned re-fetch.
    Roster {
        #[arg(long, default_value_t = 500)]
        items: usize,
        /// Online sessions of contacts.
        #[arg(long, default_value_t = 150)]
        online: usize,
        #[arg(long, default_value_t = 50)]
        logins: usize,
    },
    /// Pairs of sessions exchange 100-byte chats; throughput and latency end to end.
    Messages {
        #[arg(long, default_value_t = 20)]
        pairs: usize,
        /// Messages in flight per pair.
        #[arg(long, default_value_t = 32)]
        window: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Paced: messages per second in all (latency at a given load); default as fast as
        /// the window allows.
        #[arg(long)]
        rate: Option<u64>,
    },
    /// Mixed traffic for a while: pairs chat at a steady rate with presence changes and
    /// pings; checks every message arrives exactly once (or bounces) and samples the
    /// server's anonymous memory (RssAnon: RSS without mapped database pages).
    Soak {
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        /// Messages per second per pair.
        #[arg(long, default_value_t = 50)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// PID of the server, to sample its RSS.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// MUC fan-out: N occupants in one room, `senders` of them talking with `window`
    /// messages in flight each; deliveries per second, the last occupant's join time, and
    /// (with --server-pid) memory per occupant.
    Muc(FanoutArgs),
    /// MIX fan-out: the same with a channel (service default: channels.<domain>), each
    /// participant joined through its own server.
    Mix(FanoutArgs),
    /// PEP fan-out: account 0 publishes to a node of its own, `window` publishes in flight;
    /// `contacts` contacts (accounts 1..) with mutual subscriptions and `+notify` in their
    /// capabilities get every item. Notifications per second and their latency.
    Pep {
        #[arg(long, default_value_t = 500)]
        contacts: usize,
        #[arg(long, default_value_t = 16)]
        window: u64,
        #[arg(long, default_value_t = 8)]
        duration: u64,
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
    },
    /// Reconnect storm: N sessions bound, all dropped at once (no closing), and all back
    /// within `jitter` seconds.
    Storm {
        #[arg(long)]
        sessions: usize,
        #[arg(long, default_value_t = 15)]
        jitter: u64,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
}

#[derive(clap::Args)]
struct FanoutArgs {
    #[arg(long, default_value_t = 1000)]
    occupants: usize,
    #[arg(long, default_value_t = 4)]
    senders: usize,
    #[arg(long, default_value_t = 8)]
    window: u64,
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// The MUC or MIX service (default: conference.<domain> or channels.<domain>).
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
}

impl FanoutArgs {
    fn into_fanout(self, kind: muc::Kind, domain: &str) -> muc::Fanout {
        let subdomain = if kind == muc::Kind::Muc { "conference" } else { "channels" };
        let service = self.service.unwrap_or_else(|| format!("{subdomain}.{domain}"));
        let FanoutArgs { occupants, senders, window, duration, server_pid, concurrency, .. } = self;
        muc::Fanout { kind, occupants, senders, window, duration, service, server_pid, concurrency }
    }
}

/// The generator shares the machine with the server it measures: the faster allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() || args.sources.iter().any(|s| !s.is_loopback()) {
        bail!("only loopback addresses are load targets");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let target = Target {
        addr: args.addr,
        domain: args.domain.clone(),
        tls: !args.no_tls,
        connector: connector(args.full_handshakes),
        password: args.password.clone(),
        cache: SaltCache::default(),
    };
    let fleet = Fleet {
        target,
        prefix: args.prefix,
        accounts: args.accounts.max(1),
        sources: args.sources,
        resumption: args.resumption,
    };
    // Warm the salted-password cache so the generator is not the bottleneck.
    let mut mechanism = "";
    for i in 0..fleet.accounts.min(1000) {
        let c = fleet.login(i).await.with_context(|| format!("warm-up login of {}", fleet.user(i)))?;
        mechanism = c.mechanism;
        c.close().await;
    }
    let mut result = match args.scenario {
        Scenario::Idle { sessions, server_pid, concurrency } => idle(&fleet, sessions, server_pid, concurrency).await?,
        Scenario::Login { concurrency, duration, roster, server_pid } => {
            roster::fill_all(&fleet, roster).await?;
            let mut result = login(&fleet, concurrency, duration, server_pid).await?;
            result["roster"] = roster.into();
            result
        }
        Scenario::Roster { items, online, logins } => {
            roster::big(&fleet, roster::BigRoster { items, online, logins }).await?
        }
        Scenario::Messages { pairs, window, duration, rate } => {
            let per_pair = rate.map(|r| r as f64 / pairs.max(1) as f64);
            messages(&fleet, Load { pairs, window, duration, per_pair }).await?
        }
        Scenario::Soak { pairs, rate, duration, server_pid } => soak(&fleet, pairs, rate, duration, server_pid).await?,
        Scenario::Muc(f) => muc::fanout(&fleet, f.into_fanout(muc::Kind::Muc, &args.domain)).await?,
        Scenario::Mix(f) => muc::fanout(&fleet, f.into_fanout(muc::Kind::Mix, &args.domain)).await?,
        Scenario::Pep { contacts, window, duration, concurrency } => {
            pep::fanout(&fleet, pep::PepFanout { contacts, window, duration, concurrency }).await?
        }
        Scenario::Storm { sessions, jitter, concurrency } => storm(&fleet, sessions, jitter, concurrency).await?,
    };
    result["mechanism"] = mechanism.into();
    result["tls_resumption"] = (fleet.target.tls && !args.full_handshakes).into();
    println!("{result}");
    Ok(())
}

/// A client that accepts any certificate (the servers here have self-signed ones).
fn connector(full_handshakes: bool) -> tokio_rustls::TlsConnector {
    let mut config = rhein_stream::tls::unverified_client_config(&[]);
    if full_handshakes {
        config.resumption = tokio_rustls::rustls::client::Resumption::disabled();
    }
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// The `p` quantile (0..=1) of sorted latencies in microseconds, in milliseconds.
pub(crate) fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    let at = ((sorted_us.len() as f64 - 1.0) * p) as usize;
    sorted_us.get(at).copied().unwrap_or(0) as f64 / 1000.0
}

pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// Anonymous memory only: the heap, without the database file pages SQLite maps (which
/// count in RSS but are the kernel's to reclaim).
fn anon_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "RssAnon:")
}

/// CPU time (user and system, all threads) the process has used, in microseconds.
fn cpu_us(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading a /proc stat")?;
    // Fields after the command name (which may hold spaces) start with the state, field 3;
    // utime and stime are fields 14 and 15, in USER_HZ ticks (100 per second on Linux).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("malformed /proc stat");
    Ok((ticks(11)? + ticks(12)?) * 10_000)
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the server's /proc status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field}"))
}

/// Logs `sessions` clients in, at most `concurrency` at a time.
pub(crate) async fn login_many(fleet: &Fleet, sessions: usize, concurrency: usize) -> anyhow::Result<Vec<Client>> {
    if sessions > MAX_SESSIONS {
        bail!("at most {MAX_SESSIONS} sessions per process");
    }
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let (fleet, permits) = (fleet.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _p = permits.acquire_owned().await;
            fleet.login(i).await
        }));
    }
    let mut clients = Vec::with_capacity(sessions);
    for t in tasks {
        clients.push(t.await??);
    }
    Ok(clients)
}

async fn idle(fleet: &Fleet, sessions: usize, pid: u32, concurrency: usize) -> anyhow::Result<serde_json::Value> {
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let clients = login_many(fleet, sessions, concurrency).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let per_session = (after.saturating_sub(before) * 1024) as f64 / sessions as f64;
    for c in clients {
        c.close().await;
    }
    Ok(serde_json::json!({
        "scenario": "idle", "sessions": sessions, "tls": fleet.target.tls,
        "rss_before_kib": before, "rss_after_kib": after,
        "bytes_per_session": per_session.round(), "connect_secs": connect_secs,
    }))
}

async fn login(
    fleet: &Fleet,
    concurrency: usize,
    duration: u64,
    server_pid: Option<u32>,
) -> anyhow::Result<serde_json::Value> {
    let cpu_before = server_pid.map(cpu_us).transpose()?;
    let own_cpu_before = cpu_us(std::process::id())?;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(duration);
    let mut workers = Vec::new();
    for w in 0..concurrency.max(1) {
        let (fleet, done, failed) = (fleet.clone(), done.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while Instant::now() < stop {
                let outcome = async {
                    let mut c = fleet.login(i).await?;
                    c.request_ok("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>", "r").await?;
                    c.send_raw(b"<presence/>").await?;
                    c.close().await;
                    anyhow::Ok(())
                }
                .await;
                match outcome {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
                i += concurrency;
            }
        }));
    }
    let started = Instant::now();
    for w in workers {
        w.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let mut result = serde_json::json!({
        "scenario": "login", "concurrency": concurrency, "logins": n,
        "failed": failed.load(Ordering::Relaxed), "logins_per_sec": (n as f64 / secs).round(),
    });
    let per_login = |spent: u64| (spent as f64 / n.max(1) as f64).round();
    // The generator's own share: where it shares the cores, it bounds what any server can reach.
    result["generator_cpu_us_per_login"] = per_login(cpu_us(std::process::id())?.saturating_sub(own_cpu_before)).into();
    if let (Some(pid), Some(before)) = (server_pid, cpu_before) {
        result["server_cpu_us_per_login"] = per_login(cpu_us(pid)?.saturating_sub(before)).into();
    }
    Ok(result)
}

/// The shape of the messages scenario's load.
struct Load {
    pairs: usize,
    window: u64,
    duration: u64,
    /// Messages per second per pair when paced.
    per_pair: Option<f64>,
}

async fn messages(fleet: &Fleet, load: Load) -> anyhow::Result<serde_json::Value> {
    let Load { pairs, window, duration, per_pair } = load;
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    // Set once every sender has stopped: receivers then take what is still in flight and
    // close, so that nothing is left in the server's offline storage for a later scenario's
    // logins to pay for.
    let drain = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for p in 0..pairs {
        let mut tx = fleet.login(2 * p).await?;
        let mut rx = fleet.login(2 * p + 1).await?;
        // Both sessions are fully set up before the clock starts.
        tx.request("<iq type='get' id='s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "s").await.ok();
        rx.request("<iq type='get' id='s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "s").await.ok();
        let to = rx.jid.clone();
        let delivered = Arc::new(AtomicU64::new(0));
        let sent_so_far = Arc::new(AtomicU64::new(0));
        let (drain, total, d2, s2) = (drain.clone(), received.clone(), delivered.clone(), sent_so_far.clone());
        receivers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let draining = drain.load(Ordering::Relaxed);
                if draining && d2.load(Ordering::Relaxed) >= s2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(Ok(el)) = tokio::time::timeout(Duration::from_millis(200), rx.next()).await else {
                    // Quiet for 200 ms while draining: whatever is missing is not coming.
                    if draining {
                        break;
                    }
                    continue;
                };
                if el.name() != "message" {
                    continue;
                }
                let n = d2.fetch_add(1, Ordering::Relaxed);
                total.fetch_add(1, Ordering::Relaxed);
                if n % 16 == 0
                    && let Some(sent) = el.attr("id").and_then(|i| i.parse::<u64>().ok())
                {
                    latencies.push(epoch.elapsed().as_micros() as u64 - sent);
                }
            }
            rx.close().await;
            latencies
        }));
        let stop_tx = stop.clone();
        senders.push(tokio::spawn(async move {
            let body = "x".repeat(100);
            let mut sent = 0u64;
            let mut batch = Vec::with_capacity(8192);
            let started = Instant::now();
            while !stop_tx.load(Ordering::Relaxed) {
                let inflight = sent - delivered.load(Ordering::Relaxed);
                // Paced: no more than the rate allows so far.
                let due = per_pair.map_or(u64::MAX, |r| (started.elapsed().as_secs_f64() * r) as u64);
                if inflight >= window || sent >= due {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    continue;
                }
                batch.clear();
                for _ in 0..(window - inflight).min(16).min(due - sent) {
                    let stamp = epoch.elapsed().as_micros();
                    batch.extend_from_slice(
                        format!("<message to='{to}' type='chat' id='{stamp}'><body>{body}</body></message>").as_bytes(),
                    );
                    sent += 1;
                }
                if tx.send_raw(&batch).await.is_err() {
                    break;
                }
                sent_so_far.store(sent, Ordering::Relaxed);
            }
            tx.close().await;
            sent
        }));
    }
    let counted_from = Instant::now();
    let start_count = received.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(duration)).await;
    let delivered = received.load(Ordering::Relaxed) - start_count;
    let secs = counted_from.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for s in senders {
        sent += s.await?;
    }
    drain.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for r in receivers {
        latencies.extend(r.await?);
    }
    latencies.sort_unstable();
    let pct = |p: f64| percentile_ms(&latencies, p);
    Ok(serde_json::json!({
        "scenario": "messages", "pairs": pairs, "window": window, "sent": sent,
        "not_received": sent.saturating_sub(received.load(Ordering::Relaxed)),
        "rate": per_pair.map(|r| (r * pairs as f64).round()),
        "msgs_per_sec": (delivered as f64 / secs).round(),
        "latency_ms_p50": pct(0.5), "latency_ms_p99": pct(0.99),
    }))
}

/// One pair of the soak: what was sent, received (by sequence number) and bounced.
#[derive(Default)]
struct Tally {
    sent: u64,
    received: std::collections::HashSet<u64>,
    duplicates: u64,
    bounced: u64,
}

async fn soak(
    fleet: &Fleet,
    pairs: usize,
    rate: u64,
    duration: u64,
    pid: Option<u32>,
) -> anyhow::Result<serde_json::Value> {
    let rss = |pid: Option<u32>| pid.map(anon_kib).transpose();
    let rss_start = rss(pid)?;
    let stop = Instant::now() + Duration::from_secs(duration);
    let mut tasks = Vec::new();
    for p in 0..pairs {
        let mut tx = fleet.login(2 * p).await?;
        let mut rx = fleet.login(2 * p + 1).await?;
        tx.send_raw(b"<presence/>").await?;
        rx.send_raw(b"<presence/>").await?;
        let to = rx.jid.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let gap = Duration::from_micros(1_000_000 / rate.max(1));
            let mut next_send = Instant::now();
            let mut seq = 0u64;
            loop {
                let now = Instant::now();
                if now >= stop {
                    break;
                }
                if now >= next_send {
                    // Mostly chats; now and then a presence change or a ping (mixed traffic).
                    let extra = match seq % 50 {
                        0 => "<presence><show>away</show></presence>",
                        25 => "<presence/>",
                        10 => "<iq type='get' id='ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
                        _ => "",
                    };
                    let msg =
                        format!("{extra}<message to='{to}' type='chat' id='s{seq}'><body>soak {seq}</body></message>");
                    tx.send_raw(msg.as_bytes()).await?;
                    tally.sent += 1;
                    seq += 1;
                    next_send += gap;
                }
                drain(&mut rx, &mut tally, Duration::from_millis(1)).await;
                drain_bounces(&mut tx, &mut tally).await;
            }
            // Stragglers.
            let settle = Instant::now() + Duration::from_secs(3);
            while Instant::now() < settle && (tally.received.len() as u64 + tally.bounced) < tally.sent {
                drain(&mut rx, &mut tally, Duration::from_millis(100)).await;
                drain_bounces(&mut tx, &mut tally).await;
            }
            tx.close().await;
            rx.close().await;
            anyhow::Ok(tally)
        }));
    }
    let mut rss_max = rss_start;
    let mut samples = Vec::new();
    while Instant::now() < stop {
        tokio::time::sleep(Duration::from_secs(1).min(stop.saturating_duration_since(Instant::now()))).await;
        if let Some(r) = rss(pid)? {
            rss_max = rss_max.max(Some(r));
            samples.push(r);
        }
    }
    let (mut sent, mut received, mut duplicates, mut bounced) = (0, 0, 0, 0);
    for t in tasks {
        let tally = t.await??;
        sent += tally.sent;
        received += tally.received.len() as u64;
        duplicates += tally.duplicates;
        bounced += tally.bounced;
    }
    let rss_end = rss(pid)?;
    // RSS in the second half against the first: flat means no growth under steady load.
    let half = samples.len() / 2;
    let avg = |s: &[u64]| if s.is_empty() { 0 } else { s.iter().sum::<u64>() / s.len() as u64 };
    Ok(serde_json::json!({
        "scenario": "soak", "pairs": pairs, "rate": rate, "duration": duration,
        "sent": sent, "received": received, "duplicates": duplicates, "bounced": bounced,
        "lost": sent.saturating_sub(received + bounced),
        "anon_start_kib": rss_start, "anon_max_kib": rss_max, "anon_end_kib": rss_end,
        "anon_first_half_kib": avg(&samples[..half]), "anon_second_half_kib": avg(&samples[half..]),
    }))
}

/// Reads what arrived for the receiving side within `wait`, counting messages by sequence.
async fn drain(rx: &mut Client, tally: &mut Tally, wait: Duration) {
    while let Ok(Ok(el)) = tokio::time::timeout(wait, rx.next()).await {
        if el.name() != "message" || el.attr("type") == Some("error") {
            continue;
        }
        if let Some(seq) = el.attr("id").and_then(|i| i.strip_prefix('s')).and_then(|n| n.parse().ok())
            && !tally.received.insert(seq)
        {
            tally.duplicates += 1;
        }
    }
}

/// Bounced messages come back to the sender as errors: they count as accounted for.
async fn drain_bounces(tx: &mut Client, tally: &mut Tally) {
    while let Ok(Ok(el)) = tokio::time::timeout(Duration::from_micros(100), tx.next()).await {
        if el.name() == "message" && el.attr("type") == Some("error") {
            tally.bounced += 1;
        }
    }
}

async fn storm(fleet: &Fleet, sessions: usize, jitter: u64, concurrency: usize) -> anyhow::Result<serde_json::Value> {
    let clients = login_many(fleet, sessions, concurrency).await?;
    let resumption_ids: Vec<Option<String>> = clients.iter().map(|c| c.resumption_id.clone()).collect();
    // Everyone goes at once, without closing their streams (a network blip, a restart).
    drop(clients);
    let started = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(sessions);
    let jitter_ms = (jitter * 1000).max(1);
    for (i, previd) in resumption_ids.into_iter().enumerate() {
        let (fleet, failed) = (fleet.clone(), failed.clone());
        // Spread over the window without a random number generator: a multiplicative hash.
        let delay = Duration::from_millis((i as u64).wrapping_mul(2_654_435_761) % jitter_ms);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let asked = Instant::now();
            let back = match previd {
                Some(previd) => fleet.resume(i, &previd).await,
                None => fleet.login(i).await,
            };
            match back {
                Ok(c) => Some((c, asked.elapsed().as_micros() as u64)),
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        }));
    }
    let (mut back, mut latencies) = (Vec::with_capacity(sessions), Vec::with_capacity(sessions));
    for t in tasks {
        if let Some((c, us)) = t.await? {
            back.push(c);
            latencies.push(us);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let n = back.len();
    for c in back {
        c.close().await;
    }
    latencies.sort_unstable();
    // The jitter spreads the returns over its window; how long each took to be back in
    // (connect, TLS, SCRAM, bind or resume) is what the storm does to the server.
    Ok(serde_json::json!({
        "scenario": "storm", "sessions": sessions, "jitter": jitter, "resumed": fleet.resumption,
        "back": n, "failed": failed.load(Ordering::Relaxed), "all_back_secs": secs,
        "back_ms_p50": percentile_ms(&latencies, 0.5), "back_ms_p99": percentile_ms(&latencies, 0.99),
    }))
}
