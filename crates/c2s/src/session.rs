//! The bound session: client stanzas to the router in order, router deliveries to the client,
//! keepalives, idle timeout and slow-consumer protection.

use crate::C2sShared;
use crate::negotiate::Bound;
use rhein_proto::xml::{self, StanzaKind};
use rhein_proto::{Element, StreamErrorCondition as Cond, ns};
use rhein_router::Outbound;
use rhein_stream::{Frame, ReadError};
use tokio::time::{Instant, sleep_until};

/// Runs until the stream ends, then unbinds.
pub(crate) async fn run(shared: &C2sShared, bound: Bound) {
    let Bound { mut io, jid, session_id, mut rx, overflow } = bound;
    let idle = io.limits().idle_timeout;
    let mut last_read = Instant::now();
    let mut out = Vec::with_capacity(4096);
    loop {
        let keepalive_due = io.keepalive_due();
        tokio::select! {
            frame = io.read_frame() => {
                last_read = Instant::now();
                match frame {
                    Ok(Frame::Element(el)) => {
                        if let Err((cond, text)) = check_top_level(&el) {
                            io.fail(cond, Some(text)).await;
                            break;
                        }
                        shared.router.process(&jid, el).await;
                    }
                    Ok(Frame::Close) => {
                        let _ = io.write(b"</stream:stream>").await;
                        io.close().await;
                        break;
                    }
                    Ok(Frame::Open(_)) => break,
                    Err(ReadError::Frame(e)) => {
                        tracing::debug!(error = %e, "bad XML from client");
                        io.fail(e.condition(), Some(&e.to_string())).await;
                        break;
                    }
                    Err(_) => break,
                }
            }
            Some(first) = rx.recv() => {
                // Batch whatever else is queued into one write.
                let mut next = Some(first);
                let mut close = None;
                out.clear();
                while let Some(item) = next.take() {
                    match item {
                        Outbound::Stanza(el) => {
                            out.extend_from_slice(&xml::to_bytes(&el));
                            if out.len() < 64 * 1024 {
                                next = rx.try_recv().ok();
                            }
                        }
                        Outbound::Close(cond) => close = Some(cond),
                    }
                }
                if !out.is_empty() && io.write(&out).await.is_err() {
                    break;
                }
                if let Some(cond) = close {
                    io.fail(cond, None).await;
                    break;
                }
            }
            () = overflow.notified() => {
                io.fail(Cond::PolicyViolation, Some("too many stanzas queued for this session")).await;
                break;
            }
            () = sleep_until(last_read + idle) => {
                io.fail(Cond::ConnectionTimeout, None).await;
                break;
            }
            () = sleep_until(keepalive_due.into()) => {
                if io.write(b" ").await.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!(%jid, "session closed");
    shared.router.unbind(&jid, session_id).await;
}

/// Only stanzas in `jabber:client` may follow binding (RFC 6120 §4.9.3.10, §4.9.3.24).
fn check_top_level(el: &Element) -> Result<(), (Cond, &'static str)> {
    if StanzaKind::of(el).is_some() {
        return Ok(());
    }
    if matches!(el.name(), "message" | "presence" | "iq") && el.ns() != ns::CLIENT {
        return Err((Cond::InvalidNamespace, "stanzas must be in jabber:client"));
    }
    Err((Cond::UnsupportedStanzaType, "unsupported top-level element"))
}
