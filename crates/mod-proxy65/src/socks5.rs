//! The SOCKS5 side of a connection (RFC 1928 as XEP-0065 §5.3 and §6.3 use it): no
//! authentication, one CONNECT to a "domain name" that is the transfer's hash, port 0. The
//! reply comes once the proxy knows whether it takes the connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VERSION: u8 = 5;
const NO_AUTHENTICATION: u8 = 0;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CONNECT: u8 = 1;
const DOMAIN_NAME: u8 = 3;

/// SOCKS5 reply codes (RFC 1928 §6) this proxy sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Succeeded = 0,
    GeneralFailure = 1,
    NotAllowed = 2,
    CommandNotSupported = 7,
    AddressTypeNotSupported = 8,
}

/// Why a client's request was not read.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Not SOCKS5, or the connection broke: closed without a word.
    Io,
    /// Told with a reply code, then closed.
    Told(Reply),
}

impl From<std::io::Error> for Refused {
    fn from(_: std::io::Error) -> Self {
        Refused::Io
    }
}

/// Reads the greeting and the CONNECT request; the hash it names (40 lowercase hex digits:
/// a SHA-1, XEP-0065 §5.3.2). Replies to the greeting, not to the request.
pub(crate) async fn read_request(stream: &mut TcpStream) -> Result<String, Refused> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    if head[0] != VERSION {
        return Err(Refused::Io);
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut methods).await?;
    if !methods.contains(&NO_AUTHENTICATION) {
        stream.write_all(&[VERSION, NO_ACCEPTABLE_METHOD]).await?;
        return Err(Refused::Io);
    }
    stream.write_all(&[VERSION, NO_AUTHENTICATION]).await?;

    let mut request = [0u8; 4];
    stream.read_exact(&mut request).await?;
    if request[0] != VERSION {
        return Err(Refused::Io);
    }
    if request[1] != CONNECT {
        return Err(told(stream, Reply::CommandNotSupported).await);
    }
    if request[3] != DOMAIN_NAME {
        return Err(told(stream, Reply::AddressTypeNotSupported).await);
    }
    let mut len = [0u8; 1];
    stream.read_exact(&mut len).await?;
    let mut address = vec![0u8; usize::from(len[0])];
    stream.read_exact(&mut address).await?;
    let mut port = [0u8; 2];
    stream.read_exact(&mut port).await?;
    let hash = String::from_utf8(address).unwrap_or_default().to_ascii_lowercase();
    if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(told(stream, Reply::NotAllowed).await);
    }
    Ok(hash)
}

/// Answers the request: on success the bound address is the hash and port 0 (§5.3.2).
pub(crate) async fn reply(stream: &mut TcpStream, reply: Reply, hash: &str) -> std::io::Result<()> {
    let mut out = vec![VERSION, reply as u8, 0, DOMAIN_NAME, hash.len() as u8];
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(&[0, 0]);
    stream.write_all(&out).await
}

async fn told(stream: &mut TcpStream, code: Reply) -> Refused {
    let _ = stream.write_all(&[VERSION, code as u8, 0, 1, 0, 0, 0, 0, 0, 0]).await;
    Refused::Told(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Runs `read_request` on the server end of a connection the client writes `bytes` to;
    /// what it returned and what the client read back.
    async fn exchange(bytes: &'static [u8]) -> (Result<String, Refused>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(bytes).await.unwrap();
            c.shutdown().await.unwrap();
            let mut back = Vec::new();
            let _ = c.read_to_end(&mut back).await;
            back
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let result = read_request(&mut server).await;
        drop(server);
        (result, client.await.unwrap())
    }

    const HASH: &[u8; 40] = b"416781edf1ae50bad01cb8509ba35b43952bc345";

    #[tokio::test]
    async fn a_connect_to_a_hash_is_read() {
        let mut bytes = vec![5, 1, 0, 5, 1, 0, 3, 40];
        bytes.extend_from_slice(HASH);
        bytes.extend_from_slice(&[0, 0]);
        let (result, back) = exchange(Box::leak(bytes.into_boxed_slice())).await;
        assert_eq!(result.unwrap().as_bytes(), HASH);
        assert_eq!(back, [5, 0], "the greeting is answered; the request waits for the proxy");
    }

    #[tokio::test]
    async fn other_requests_are_refused_with_their_code() {
        let (result, back) = exchange(&[5, 1, 2]).await;
        assert!(matches!(result, Err(Refused::Io)));
        assert_eq!(back, [5, 0xff], "no acceptable method without 'no authentication'");
        let (result, _) = exchange(&[5, 1, 0, 5, 2, 0, 3]).await;
        assert!(matches!(result, Err(Refused::Told(Reply::CommandNotSupported))), "BIND");
        let (result, _) = exchange(&[5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 0]).await;
        assert!(matches!(result, Err(Refused::Told(Reply::AddressTypeNotSupported))), "IPv4");
        let (result, _) = exchange(&[5, 1, 0, 5, 1, 0, 3, 4, b'a', b'b', b'c', b'd', 0, 0]).await;
        assert!(matches!(result, Err(Refused::Told(Reply::NotAllowed))), "not a SHA-1");
        let (result, _) = exchange(&[4, 1, 0, 80]).await;
        assert!(matches!(result, Err(Refused::Io)), "SOCKS4");
    }
}
