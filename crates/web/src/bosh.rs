//! BOSH (XEP-0124 with XEP-0206's XMPP profile) at `/http-bind`, for clients behind proxies
//! that break WebSockets: each session is a c2s session on a bridge; requests carry stanzas in
//! and hold on (up to `wait` seconds) until the server has something to say.

use crate::bridge::{self, Out, Output};
use crate::{Body, WebShared};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use rhein_proto::{Element, ns, xml};
use rhein_stream::Slot;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Longest a request is held open.
const MAX_WAIT: u64 = 60;

/// The BOSH sessions of one listener, by `sid`.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
}

/// A session and its connection slot, given back when the session is forgotten.
struct Entry {
    session: Arc<Session>,
    _slot: Slot,
}

struct Session {
    to_c2s: tokio::sync::Mutex<WriteHalf<tokio::io::DuplexStream>>,
    state: Mutex<State>,
    arrived: Notify,
    wait: Duration,
}

struct State {
    /// What the server wrote and no request has taken yet.
    queue: Vec<Element>,
    stream_id: Option<String>,
    closed: bool,
    last_rid: u64,
    /// Bumped by every request, so an older held request lets go (hold = 1).
    generation: u64,
    /// When the last request came.
    last_seen: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// Ends the stream as a lost connection, not a logout: the c2s end sees its input end, as
    /// when a TCP client vanishes, and a session with XEP-0198 resumption hibernates.
    async fn lose(&self) {
        let _ = self.to_c2s.lock().await.shutdown().await;
    }
}

impl Sessions {
    fn get(&self, sid: &str) -> Option<Arc<Session>> {
        lock(&self.map).get(sid).map(|e| e.session.clone())
    }

    fn insert(&self, sid: String, session: Arc<Session>, slot: Slot) {
        lock(&self.map).insert(sid, Entry { session, _slot: slot });
    }

    fn remove(&self, sid: &str) {
        lock(&self.map).remove(sid);
    }
}

/// `POST /http-bind`.
pub(crate) async fn handle(shared: Arc<WebShared>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let limit = shared.max_message + 4096;
    // A BOSH body is about one stanza: it arrives whole within the body timeout, or not at all.
    let timeout = shared.timeouts.body;
    let read = tokio::time::timeout(timeout, crate::read_body(req.into_body(), limit, timeout)).await;
    let bytes = match read.unwrap_or(Err(crate::BodyError::Stalled)) {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    // The body is framed like a stream: its tag under the header's limits, each stanza in it
    // under a stanza's.
    let body = rhein_stream::parse_document(&bytes, shared.frame_limits()).ok().filter(|(b, _)| b.is("body", ns::BOSH));
    let Some((mut body, stanzas)) = body else {
        return crate::plain(StatusCode::BAD_REQUEST, "expected a BOSH <body/> within the server's limits");
    };
    for stanza in stanzas {
        body.append_child(stanza);
    }
    let rid = body.attr("rid").and_then(|r| r.parse::<u64>().ok());
    let Some(rid) = rid else { return respond(terminate_body("bad-request")) };
    let reply = match body.attr("sid") {
        None => create(&shared, peer, &body, rid).await,
        Some(sid) => match shared.bosh.get(sid) {
            Some(session) => exchange(&shared, sid, session, &body, rid).await,
            None => terminate_body("item-not-found"),
        },
    };
    respond(reply)
}

/// Session creation (XEP-0124 §7, XEP-0206 §4): the stream is opened and the answer carries
/// the stream features.
async fn create(shared: &Arc<WebShared>, peer: SocketAddr, body: &Element, rid: u64) -> Element {
    let Some(to) = body.attr("to") else { return terminate_body("improper-addressing") };
    // A session counts as a connection, like a TCP stream or a WebSocket (XEP-0124 §17).
    let slot = match shared.sessions.acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(why) => {
            tracing::warn!(%peer, "BOSH session refused: {why}");
            return terminate_body("policy-violation");
        }
    };
    let wait = body.attr("wait").and_then(|w| w.parse().ok()).unwrap_or(MAX_WAIT).clamp(1, MAX_WAIT);
    // The c2s task is not awaited: it ends by itself once its stream does, which shows here
    // as `closed`.
    let (ours, _) = bridge::start(shared, peer, rhein_c2s::Transport::Bosh);
    let (mut from_c2s, to_c2s) = tokio::io::split(ours);
    let session = Arc::new(Session {
        to_c2s: tokio::sync::Mutex::new(to_c2s),
        state: Mutex::new(State {
            queue: Vec::new(),
            stream_id: None,
            closed: false,
            last_rid: rid,
            generation: 0,
            last_seen: Instant::now(),
        }),
        arrived: Notify::new(),
        wait: Duration::from_secs(wait),
    });
    let sid = rhein_proto::xml::random_id();
    shared.bosh.insert(sid.clone(), session.clone(), slot);
    // What the session writes is parsed and queued for the next request to take.
    let (reader, limits) = (session.clone(), shared.frame_limits());
    tokio::spawn(async move {
        let mut output = Output::new(limits);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from_c2s.read(&mut buf).await {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            let mut state = lock(&reader.state);
            if n == 0 {
                state.closed = true;
            }
            for out in output.feed(&buf[..n]) {
                match out {
                    Out::Open(header) => state.stream_id = header.attr("id").map(str::to_owned),
                    Out::Element(el) => state.queue.push(el),
                    Out::Close => state.closed = true,
                }
            }
            let closed = state.closed;
            drop(state);
            reader.arrived.notify_waiters();
            if closed {
                break;
            }
        }
    });
    tokio::spawn(reap(shared.clone(), sid.clone(), session.clone()));
    if session.to_c2s.lock().await.write_all(bridge::stream_header(Some(to)).as_bytes()).await.is_err() {
        return terminate_body("remote-connection-failed");
    }
    let mut reply =
        collect(&session, u64::MAX, Duration::from_secs(10), |s| s.stream_id.is_some() && !s.queue.is_empty()).await;
    let state = lock(&session.state);
    for (name, value) in [
        ("sid", sid.as_str()),
        ("wait", &wait.to_string()),
        ("requests", "2"),
        ("hold", "1"),
        ("inactivity", &shared.timeouts.bosh_inactivity.as_secs().to_string()),
        ("polling", "2"),
        ("ver", "1.11"),
        ("from", to),
        ("authid", state.stream_id.as_deref().unwrap_or_default()),
    ] {
        xml::set_attr(&mut reply, name, value);
    }
    xml::set_attr_ns(&mut reply, ns::XBOSH, "version", "1.0");
    reply
}

/// A request within a session: its stanzas go in, and it returns what the server has to say.
async fn exchange(shared: &Arc<WebShared>, sid: &str, session: Arc<Session>, body: &Element, rid: u64) -> Element {
    let generation = {
        let mut state = lock(&session.state);
        // Requests may overtake each other by one (requests = 2); anything else is broken.
        let in_window = rid > state.last_rid.saturating_sub(2) && rid <= state.last_rid + 2;
        in_window.then(|| {
            state.last_rid = state.last_rid.max(rid);
            state.last_seen = Instant::now();
            state.generation += 1;
            state.generation
        })
    };
    let Some(generation) = generation else {
        shared.bosh.remove(sid);
        session.lose().await;
        return terminate_body("item-not-found");
    };
    // A newer request frees the one held before it.
    session.arrived.notify_waiters();
    let mut bytes = Vec::new();
    if body.attr_ns(ns::XBOSH, "restart") == Some("true") {
        bytes.extend_from_slice(bridge::stream_header(body.attr("to")).as_bytes());
    }
    for child in body.children() {
        bytes.extend_from_slice(&xml::to_bytes(child));
    }
    let terminating = body.attr("type") == Some("terminate");
    if terminating {
        bytes.extend_from_slice(b"</stream:stream>");
    }
    if !bytes.is_empty() && session.to_c2s.lock().await.write_all(&bytes).await.is_err() {
        return terminate_body("remote-connection-failed");
    }
    if terminating {
        shared.bosh.remove(sid);
        return terminate_body("");
    }
    collect(&session, generation, session.wait, |s| !s.queue.is_empty()).await
}

/// Waits until `ready` (or the server closed the stream, or a newer request came, or time is
/// up) and wraps what is queued in a `<body/>`.
async fn collect(session: &Session, generation: u64, wait: Duration, ready: impl Fn(&State) -> bool) -> Element {
    let deadline = Instant::now() + wait;
    loop {
        let notified = session.arrived.notified();
        {
            let mut state = lock(&session.state);
            let superseded = generation != u64::MAX && state.generation != generation;
            if ready(&state) || state.closed || superseded || Instant::now() >= deadline {
                let mut reply = if state.closed && state.queue.is_empty() {
                    terminate_body("")
                } else {
                    Element::bare("body", ns::BOSH)
                };
                for el in state.queue.drain(..) {
                    reply.append_child(el);
                }
                if state.closed {
                    // Everything is handed over: the session may be forgotten.
                    drop(state);
                    session.arrived.notify_waiters();
                }
                return reply;
            }
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// Forgets a session, giving back its connection slot, once it is over: its stream ended and
/// a request took what the server wrote last, or nobody polled it for `inactivity` (XEP-0124
/// §7): its client is gone, which is a lost connection, not a logout (only `terminate` is).
async fn reap(shared: Arc<WebShared>, sid: String, session: Arc<Session>) {
    let idle_limit = session.wait + shared.timeouts.bosh_inactivity;
    loop {
        let notified = session.arrived.notified();
        let (over, idle_until) = {
            let state = lock(&session.state);
            (state.closed && state.queue.is_empty(), state.last_seen + idle_limit)
        };
        if over {
            break;
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep_until(idle_until) => {
                if lock(&session.state).last_seen + idle_limit <= Instant::now() {
                    session.lose().await;
                    break;
                }
            }
        }
    }
    shared.bosh.remove(&sid);
}

fn terminate_body(condition: &str) -> Element {
    let mut b = xml::with_attr(Element::bare("body", ns::BOSH), "type", "terminate");
    if !condition.is_empty() {
        xml::set_attr(&mut b, "condition", condition);
    }
    b
}

fn respond(body: Element) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(xml::to_bytes(&body))));
    crate::secure_headers(&mut r);
    crate::cors(&mut r);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
