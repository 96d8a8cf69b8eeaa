//! XEP-0114 external components: a process in any language connects, names the domain it
//! serves, proves it knows that domain's secret, and from then on receives every stanza for
//! the domain and may send stanzas from it.

use crate::link::{self, Local, Peer, Refusal};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{Element, Jid, StreamErrorCondition as Cond, ns, xml};
use rhein_router::{AttachError, Outbound, Router, SessionHandle};
use rhein_stream::{Conn, Frame, Limits, ReadError, StreamHeader, StreamIo};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tracing::Instrument;

/// What every component connection needs.
pub struct ComponentShared {
    /// Domain to handshake secret.
    pub secrets: HashMap<String, String>,
    pub router: Router,
    pub limits: Limits,
    /// Stanzas queued for the component before it counts as too slow.
    pub queue_size: usize,
    /// Time allowed from connect to a completed handshake.
    pub handshake_timeout: Duration,
}

/// Serves one accepted connection to the end.
pub async fn serve(shared: Arc<ComponentShared>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!("component", %peer, domain = tracing::field::Empty);
    async move {
        let mut io = StreamIo::new(Conn::Plain(tcp), shared.limits.clone());
        io.set_deadline(Some(tokio::time::Instant::now() + shared.handshake_timeout));
        let domain = match handshake(&shared, &mut io).await {
            Ok(domain) => domain,
            Err(refusal) => {
                tracing::info!(condition = refusal.cond.as_str(), reason = %refusal.text, "component refused");
                return io.fail(refusal.cond, Some(&refusal.text)).await;
            }
        };
        io.set_deadline(None);
        tracing::Span::current().record("domain", domain.as_str());
        let (handle, mut rx, overflow) = SessionHandle::new(shared.queue_size);
        let session_id = handle.id;
        if let Err(e) = shared.router.attach_component(&domain, handle) {
            let text = match e {
                AttachError::Taken => "another connection serves this component",
                AttachError::Unknown => "no such component",
            };
            return io.fail(Cond::Conflict, Some(text)).await;
        }
        tracing::info!("component connected");
        if io.send(&Element::bare("handshake", ns::COMPONENT_ACCEPT)).await.is_ok() {
            let mut peer = Attached { domain: &domain, router: &shared.router, rx: &mut rx, overflow };
            link::run(&mut io, ns::COMPONENT_ACCEPT, &mut peer).await;
        }
        shared.router.detach_component(&domain, session_id);
        tracing::info!("component disconnected");
    }
    .instrument(span)
    .await
}

/// An attached component: what it sends is routed, what the router queues for it is written.
struct Attached<'a> {
    domain: &'a str,
    router: &'a Router,
    rx: &'a mut mpsc::Receiver<Outbound>,
    overflow: Arc<Notify>,
}

impl Peer for Attached<'_> {
    async fn next_local(&mut self) -> Local {
        tokio::select! {
            out = self.rx.recv() => match out {
                Some(Outbound::Stanza(el)) => Local::Send(*el),
                // Copies of a broadcast go to bound client sessions only, never to a component.
                Some(Outbound::Shared(b)) => Local::Send(b.element().clone()),
                Some(Outbound::Close(closing)) => {
                    Local::Fail(Refusal::new(closing.condition, closing.text.unwrap_or_else(|| "closed by the server".into())))
                }
                None => Local::Close,
            },
            () = self.overflow.notified() => Local::Fail(Refusal::new(Cond::PolicyViolation, "too many stanzas queued")),
        }
    }

    async fn receive(&mut self, el: Element) -> Result<Vec<Element>, Refusal> {
        let el = check_stanza(self.domain, el)?;
        self.router.route(el).await;
        Ok(Vec::new())
    }
}

/// The stream header and `<handshake/>`, before the stream's deadline; the component's
/// domain once it proved the secret.
async fn handshake(shared: &ComponentShared, io: &mut StreamIo) -> Result<String, Refusal> {
    let header = match io.read_frame().await {
        Ok(Frame::Open(header)) => header,
        other => {
            // RFC 6120 §4.9.1.1: the error goes on a stream, so ours is opened first.
            io.queue_stream_header(&StreamHeader { version: false, ..StreamHeader::new(ns::COMPONENT_ACCEPT) });
            return Err(match other {
                Err(ReadError::TimedOut) => timed_out(),
                Err(ReadError::Frame(e)) => Refusal::new(e.condition(), e.to_string()),
                _ => Refusal::new(Cond::BadFormat, "expected a stream header"),
            });
        }
    };
    let domain = header.attr("to").unwrap_or_default().to_ascii_lowercase();
    let id = xml::random_id();
    let reply =
        StreamHeader { from: Some(&domain), id: Some(&id), version: false, ..StreamHeader::new(ns::COMPONENT_ACCEPT) };
    io.send_stream_header(&reply).await.map_err(|e| Refusal::new(Cond::UndefinedCondition, e.to_string()))?;
    let Some(secret) = shared.secrets.get(&domain) else {
        return Err(Refusal::new(Cond::HostUnknown, format!("no component is configured for {domain:?}")));
    };
    let proof = match io.read_frame().await {
        Ok(Frame::Element(el)) if el.is("handshake", ns::COMPONENT_ACCEPT) => el.text(),
        Err(ReadError::Frame(e)) => return Err(Refusal::new(e.condition(), e.to_string())),
        Err(ReadError::TimedOut) => return Err(timed_out()),
        _ => return Err(Refusal::new(Cond::NotAuthorized, "expected <handshake/>")),
    };
    let expected = handshake_digest(&id, secret);
    let given = proof.trim().to_ascii_lowercase();
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(Refusal::new(Cond::NotAuthorized, "wrong handshake"));
    }
    Ok(domain)
}

fn timed_out() -> Refusal {
    Refusal::new(Cond::ConnectionTimeout, "no handshake in time")
}

/// XEP-0114 §3: lowercase hex SHA-1 of the stream id followed by the secret.
fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let digest = Sha1::new().chain_update(stream_id.as_bytes()).chain_update(secret.as_bytes()).finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A component may send stanzas only from its own domain, and only addressed ones.
fn check_stanza(domain: &str, el: Element) -> Result<Element, Refusal> {
    if StanzaKind::of(&el).is_none() {
        return Err(Refusal::new(Cond::UnsupportedStanzaType, format!("<{}/> is not a stanza", el.name())));
    }
    let from = match el.attr("from").map(Jid::new) {
        Some(Ok(from)) => from,
        Some(Err(_)) => return Err(Refusal::new(Cond::InvalidFrom, "malformed from")),
        None => return Err(Refusal::new(Cond::ImproperAddressing, "a component's stanza needs a from")),
    };
    if from.domain().as_str() != domain {
        return Err(Refusal::new(Cond::InvalidFrom, format!("{from} is not at {domain}")));
    }
    if el.attr("to").is_none() {
        return Err(Refusal::new(Cond::ImproperAddressing, "a component's stanza needs a to"));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_xep_example() {
        // XEP-0114 §3 example: stream id 3BF96D32, secret "sesame".
        assert_eq!(handshake_digest("3BF96D32", "sesame"), sha1_hex("3BF96D32sesame"));
        assert_eq!(handshake_digest("a", "b").len(), 40);
    }

    fn sha1_hex(s: &str) -> String {
        Sha1::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn stanzas_must_come_from_the_component_domain() {
        let ok: Element = "<message xmlns='jabber:client' from='bot@echo.example' to='a@example'/>".parse().unwrap();
        assert!(check_stanza("echo.example", ok).is_ok());
        let spoof: Element = "<message xmlns='jabber:client' from='a@example' to='b@example'/>".parse().unwrap();
        assert_eq!(check_stanza("echo.example", spoof).unwrap_err().cond, Cond::InvalidFrom);
        let nofrom: Element = "<iq xmlns='jabber:client' to='example' type='get' id='1'/>".parse().unwrap();
        assert_eq!(check_stanza("echo.example", nofrom).unwrap_err().cond, Cond::ImproperAddressing);
        let nonza: Element = "<handshake xmlns='jabber:client'/>".parse().unwrap();
        assert_eq!(check_stanza("echo.example", nonza).unwrap_err().cond, Cond::UnsupportedStanzaType);
    }
}
