//! TCP listeners: bind with a large backlog, accept until shutdown, cap connections per
//! address and in all, and hand each connection to its stream kind.

use rhein_c2s::C2sShared;
use rhein_module::Current;
use rhein_proto::StreamErrorCondition;
use rhein_s2s::component::ComponentShared;
use rhein_stream::{Connections, Refused};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpSocket;
use tokio::sync::watch;

/// Tells a plaintext client why it is turned away (RFC 6120 §4.9.1.1: header, then the error).
async fn refuse(mut tcp: tokio::net::TcpStream, why: Refused) {
    use tokio::io::AsyncWriteExt;
    let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    let error = match why {
        Refused::Address => {
            StreamErrorCondition::PolicyViolation.to_wire(Some("too many connections from your address"))
        }
        Refused::Full => {
            StreamErrorCondition::ResourceConstraint.to_wire(Some("the server is at its connection limit"))
        }
    };
    let refusal = format!("{header}{error}</stream:stream>");
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tcp.write_all(refusal.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// What a listener hands its connections to.
#[derive(Clone)]
pub(crate) enum Service {
    C2s { shared: Current<C2sShared>, direct_tls: bool },
    Component(Arc<ComponentShared>),
    S2s { s2s: rhein_s2s::S2s, direct_tls: bool },
    Web(Current<rhein_web::WebShared>),
}

impl Service {
    /// Each kind of connection on the heap at its own size: a task holding this enum's
    /// future inline would be as large as the largest kind for every connection.
    async fn serve(self, tcp: tokio::net::TcpStream, peer: SocketAddr) {
        match self {
            Service::C2s { shared, direct_tls } => {
                Box::pin(rhein_c2s::serve(shared.get(), tcp, peer, direct_tls)).await
            }
            Service::Component(shared) => Box::pin(rhein_s2s::component::serve(shared, tcp, peer)).await,
            Service::S2s { s2s, direct_tls } => Box::pin(rhein_s2s::serve(s2s, tcp, peer, direct_tls)).await,
            Service::Web(shared) => Box::pin(rhein_web::serve(shared.get(), tcp, peer)).await,
        }
    }

    /// Direct-TLS listeners cannot be told why they are refused in plaintext.
    fn speaks_plaintext_first(&self) -> bool {
        !matches!(self, Service::C2s { direct_tls: true, .. } | Service::S2s { direct_tls: true, .. } | Service::Web(_))
    }
}

/// Binds `addr` and accepts in a background task; returns the bound address (port 0 picks one).
pub(crate) async fn spawn(
    addr: SocketAddr,
    service: Service,
    mut stop: watch::Receiver<bool>,
    connections: Connections,
) -> std::io::Result<SocketAddr> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // Bursts of logins must queue, not be reset.
    let listener = socket.listen(4096)?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let slot = match connections.acquire(peer.ip()) {
                            Ok(slot) => slot,
                            Err(why) => {
                                tracing::warn!(%peer, "connection refused: {why}");
                                if service.speaks_plaintext_first() {
                                    tokio::spawn(refuse(tcp, why));
                                }
                                continue;
                            }
                        };
                        let service = service.clone();
                        tokio::spawn(async move {
                            service.serve(tcp, peer).await;
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = async { drop(stop.wait_for(|s| *s).await) } => break,
            }
        }
    });
    Ok(local)
}
