//! A client connection before or after TLS, as one `AsyncRead + AsyncWrite` type.

use crate::tls::TlsSettings;
use rhein_sasl::ChannelBinding;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ProtocolVersion;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsConnector, TlsStream};

/// A TCP connection, plaintext or TLS (server side, or client side for tests and s2s).
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// A stream carried by another transport (XMPP over WebSocket), translated to and from
    /// plain XMPP by a bridge task; `secure` when that transport is encrypted (HTTPS).
    Bridged {
        io: tokio::io::DuplexStream,
        secure: bool,
    },
}

impl Conn {
    /// Performs the server's TLS handshake (STARTTLS, or direct TLS at accept).
    pub async fn into_tls(self, tls: &TlsSettings) -> io::Result<Conn> {
        self.accept_tls(&tls.acceptor).await
    }

    /// The server's TLS handshake with a given acceptor.
    pub async fn accept_tls(self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<Conn> {
        match self {
            Conn::Plain(tcp) => Ok(Conn::Tls(Box::new(TlsStream::Server(acceptor.accept(tcp).await?)))),
            tls @ Conn::Tls(_) => Ok(tls),
            Conn::Bridged { .. } => Err(no_starttls()),
        }
    }

    /// What the client sent as TLS 1.3 early data (0-RTT), which rustls holds until it is
    /// read; empty without any.
    pub fn take_early_data(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Conn::Tls(s) = self
            && let TlsStream::Server(s) = s.as_mut()
            && let Some(mut early) = s.get_mut().1.early_data()
        {
            let _ = std::io::Read::read_to_end(&mut early, &mut out);
        }
        out
    }

    /// Performs a client's TLS handshake towards `domain`.
    pub async fn into_client_tls(self, connector: &TlsConnector, domain: &str) -> io::Result<Conn> {
        let name =
            ServerName::try_from(domain.to_owned()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        match self {
            Conn::Plain(tcp) => Ok(Conn::Tls(Box::new(TlsStream::Client(connector.connect(name, tcp).await?)))),
            tls @ Conn::Tls(_) => Ok(tls),
            Conn::Bridged { .. } => Err(no_starttls()),
        }
    }

    /// `tls-exporter` channel-binding data: 32 bytes exported with label
    /// "EXPORTER-Channel-Binding", only on TLS 1.3, where it is safe (RFC 9266 §3).
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        const LABEL: &[u8] = b"EXPORTER-Channel-Binding";
        let Conn::Tls(s) = self else { return None };
        if s.get_ref().1.protocol_version() != Some(ProtocolVersion::TLSv1_3) {
            return None;
        }
        let out = match s.as_ref() {
            TlsStream::Server(s) => s.get_ref().1.export_keying_material([0u8; 32], LABEL, None),
            TlsStream::Client(c) => c.get_ref().1.export_keying_material([0u8; 32], LABEL, None),
        };
        out.ok().map(|k| k.to_vec())
    }

    /// The certificate chain the peer presented in the TLS handshake (end entity first).
    pub fn peer_certificates(&self) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        let Conn::Tls(s) = self else { return Vec::new() };
        let certs = match s.as_ref() {
            TlsStream::Server(s) => s.get_ref().1.peer_certificates(),
            TlsStream::Client(c) => c.get_ref().1.peer_certificates(),
        };
        certs.map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default()
    }

    /// Writes `last` and shuts the connection down. Over TLS the data is sealed into rustls's
    /// buffer first, so it and the close_notify leave in one write.
    pub async fn finish(&mut self, last: &[u8]) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let sealed = match self {
            Conn::Tls(s) => {
                let mut writer = match s.as_mut() {
                    TlsStream::Server(s) => s.get_mut().1.writer(),
                    TlsStream::Client(c) => c.get_mut().1.writer(),
                };
                // rustls buffers up to its limit; whatever does not fit takes the ordinary path.
                std::io::Write::write(&mut writer, last).unwrap_or(0)
            }
            _ => 0,
        };
        self.write_all(&last[sealed..]).await?;
        self.shutdown().await
    }

    /// Whether the connection is encrypted (TLS here, or the transport a bridge runs over).
    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_) | Conn::Bridged { secure: true, .. })
    }

    /// Whether STARTTLS can upgrade this connection (only a plain TCP one).
    pub fn can_starttls(&self) -> bool {
        matches!(self, Conn::Plain(_))
    }

    /// Channel-binding data for SCRAM-PLUS on the server side: `tls-exporter` (TLS 1.3) and
    /// `tls-server-end-point` (any TLS version).
    pub fn channel_binding(&self, tls: &TlsSettings) -> ChannelBinding {
        let Conn::Tls(s) = self else { return ChannelBinding::default() };
        let TlsStream::Server(server) = s.as_ref() else { return ChannelBinding::default() };
        let end_point = tls.end_point(server.get_ref().1.server_name());
        ChannelBinding { tls_exporter: self.tls_exporter(), tls_server_end_point: Some(end_point) }
    }
}

fn no_starttls() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "TLS is the carrying transport's business")
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Bridged { io, .. } => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Bridged { io, .. } => Pin::new(io).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Bridged { io, .. } => Pin::new(io).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Bridged { io, .. } => Pin::new(io).poll_shutdown(cx),
        }
    }
}
