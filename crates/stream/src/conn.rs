//! A client connection before or after TLS, as one `AsyncRead + AsyncWrite` type.

use crate::tls::TlsSettings;
use rhein_sasl::ChannelBinding;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ProtocolVersion;
use tokio_rustls::server::TlsStream;

/// A TCP connection, plaintext or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// Performs the TLS handshake on a plaintext connection (STARTTLS, or direct TLS at accept).
    pub async fn into_tls(self, tls: &TlsSettings) -> io::Result<Conn> {
        match self {
            Conn::Plain(tcp) => Ok(Conn::Tls(Box::new(tls.acceptor.accept(tcp).await?))),
            tls @ Conn::Tls(_) => Ok(tls),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    /// Channel-binding data for SCRAM-PLUS. `tls-exporter` only on TLS 1.3, where it is safe
    /// (RFC 9266 §3); `tls-server-end-point` on any TLS version.
    pub fn channel_binding(&self, tls: &TlsSettings) -> ChannelBinding {
        let Conn::Tls(s) = self else { return ChannelBinding::default() };
        let conn = s.get_ref().1;
        let tls_exporter = (conn.protocol_version() == Some(ProtocolVersion::TLSv1_3))
            .then(|| conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None).ok())
            .flatten()
            .map(|k| k.to_vec());
        ChannelBinding { tls_exporter, tls_server_end_point: Some(tls.end_point(conn.server_name())) }
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
