//! A lean XMPP client for load: connect from a chosen source address, STARTTLS, SCRAM-SHA-256
//! (SHA-1 where that is all the server has; salted passwords cached), bind; then send and
//! receive raw stanzas. It parses only what it must understand (see `skim`).

use crate::skim::{self, Piece, Skimmer};
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rhein_proto::{Element, ns};
use rhein_stream::Conn;
use rhein_testkit::scram::ScramClient;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

const SM: &str = "urn:xmpp:sm:3";

/// Salted passwords by (salt, iterations); all bench accounts share one password.
pub type SaltCache = Arc<Mutex<HashMap<(Vec<u8>, u32), Vec<u8>>>>;

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub domain: String,
    pub tls: bool,
    pub connector: TlsConnector,
    pub password: String,
    pub cache: SaltCache,
}

/// Who logs in and from where: the `i`th login of a run is account `{prefix}{i mod accounts}`
/// from source address `i mod sources`.
#[derive(Clone)]
pub struct Fleet {
    pub target: Target,
    pub prefix: String,
    pub accounts: usize,
    pub sources: Vec<IpAddr>,
    /// Every login enables stream management with resumption.
    pub resumption: bool,
}

impl Fleet {
    pub fn user(&self, i: usize) -> String {
        format!("{}{}", self.prefix, i % self.accounts.max(1))
    }

    pub fn jid(&self, i: usize) -> String {
        format!("{}@{}", self.user(i), self.target.domain)
    }

    pub fn source(&self, i: usize) -> IpAddr {
        self.sources[i % self.sources.len()]
    }

    /// The `i`th login.
    pub async fn login(&self, i: usize) -> anyhow::Result<Client> {
        self.login_as(i, i).await
    }

    /// Account `account` from the `i`th source address.
    pub async fn login_as(&self, i: usize, account: usize) -> anyhow::Result<Client> {
        let mut c = Client::login(&self.target, self.source(i), &self.user(account)).await?;
        if self.resumption {
            c.resumption_id = Some(c.enable_resumption().await?);
        }
        Ok(c)
    }

    /// The `i`th login again, resuming the session it left (`previd`) instead of binding.
    pub async fn resume(&self, i: usize, previd: &str) -> anyhow::Result<Client> {
        let mut c = Client::authenticate(&self.target, self.source(i), &self.user(i)).await?;
        c.resume(previd).await?;
        Ok(c)
    }
}

pub struct Client {
    /// `None` only while STARTTLS swaps the connection.
    conn: Option<Conn>,
    skim: Skimmer,
    buf: Vec<u8>,
    pub jid: String,
    /// The SASL mechanism used.
    pub mechanism: &'static str,
    /// Where stream management is enabled, the id to resume with.
    pub resumption_id: Option<String>,
}

impl Client {
    /// Connects, secures, authenticates as `user` and binds.
    pub async fn login(t: &Target, source: IpAddr, user: &str) -> anyhow::Result<Client> {
        let mut c = Client::authenticate(t, source, user).await?;
        c.bind().await?;
        Ok(c)
    }

    /// Connects, secures and authenticates as `user`: the stream is ready to bind or resume.
    pub async fn authenticate(t: &Target, source: IpAddr, user: &str) -> anyhow::Result<Client> {
        let socket = if source.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.bind(SocketAddr::new(source, 0)).context("binding the source address")?;
        let tcp = socket.connect(t.addr).await.context("connecting")?;
        tcp.set_nodelay(true)?;
        let mut c = Client {
            conn: Some(Conn::Plain(tcp)),
            skim: Skimmer::default(),
            buf: vec![0; 16 * 1024],
            jid: String::new(),
            mechanism: "",
            resumption_id: None,
        };
        let mut features = c.open(&t.domain).await?;
        if t.tls {
            if features.get_child("starttls", ns::TLS).is_none() {
                bail!("no STARTTLS offered");
            }
            c.send_raw(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await?;
            c.next().await?;
            let plain = c.conn.take().ok_or_else(|| anyhow!("no connection"))?;
            c.conn = Some(plain.into_client_tls(&t.connector, &t.domain).await?);
            features = c.open(&t.domain).await?;
        }
        let mechs: Vec<String> = features
            .get_child("mechanisms", ns::SASL)
            .map(|m| m.children().map(Element::text).collect())
            .unwrap_or_default();
        // SCRAM-SHA-256 where offered; Prosody 0.12 only has SCRAM-SHA-1.
        let Some(mech) = ["SCRAM-SHA-256", "SCRAM-SHA-1"].into_iter().find(|m| mechs.iter().any(|o| o == m)) else {
            bail!("no SCRAM mechanism offered: {mechs:?}");
        };
        let mut scram = ScramClient::new(mech, user, &t.password, None);
        let auth = format!("<auth xmlns='{}' mechanism='{mech}'>{}</auth>", ns::SASL, B64.encode(scram.first()));
        c.send_raw(auth.as_bytes()).await?;
        c.mechanism = mech;
        let challenge = c.next().await?;
        let server_first = B64.decode(challenge.text().trim())?;
        let response = {
            let mut cache = t.cache.lock().map_err(|_| anyhow!("cache poisoned"))?;
            scram.respond_cached(&server_first, &mut cache)
        };
        c.send_raw(format!("<response xmlns='{}'>{}</response>", ns::SASL, B64.encode(response)).as_bytes()).await?;
        let outcome = c.next().await?;
        if !outcome.is("success", ns::SASL) {
            bail!("authentication failed for {user}");
        }
        c.open(&t.domain).await?;
        Ok(c)
    }

    async fn bind(&mut self) -> anyhow::Result<()> {
        self.send_raw(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>").await?;
        let bound = self.next().await?;
        self.jid = bound
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .map(Element::text)
            .ok_or_else(|| anyhow!("bind failed"))?;
        Ok(())
    }

    /// Enables stream management with resumption (XEP-0198); returns the resumption id.
    pub async fn enable_resumption(&mut self) -> anyhow::Result<String> {
        self.send_raw(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>").await?;
        loop {
            let el = self.next().await?;
            if el.is("enabled", SM) {
                return el.attr("id").map(str::to_owned).ok_or_else(|| anyhow!("no resumption id"));
            }
            if el.is("failed", SM) {
                bail!("stream management refused");
            }
        }
    }

    /// Resumes the session `previd` on an authenticated stream; this client has handled
    /// nothing of it (an idle session).
    pub async fn resume(&mut self, previd: &str) -> anyhow::Result<()> {
        self.send_raw(format!("<resume xmlns='{SM}' previd='{previd}' h='0'/>").as_bytes()).await?;
        loop {
            let el = self.next().await?;
            if el.is("resumed", SM) {
                return Ok(());
            }
            if el.is("failed", SM) {
                bail!("resumption refused");
            }
        }
    }

    async fn open(&mut self, domain: &str) -> anyhow::Result<Element> {
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>"
        );
        self.send_raw(header.as_bytes()).await?;
        self.skim.reset();
        match self.piece().await? {
            Piece::Open => {}
            _ => bail!("no stream header"),
        }
        let features = self.next().await?;
        if !features.is("features", ns::STREAM) {
            bail!("no stream features");
        }
        Ok(features)
    }

    fn io(&mut self) -> anyhow::Result<&mut Conn> {
        self.conn.as_mut().ok_or_else(|| anyhow!("no connection"))
    }

    pub async fn send_raw(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let io = self.io()?;
        io.write_all(data).await?;
        io.flush().await?;
        Ok(())
    }

    async fn piece(&mut self) -> anyhow::Result<Piece> {
        loop {
            if let Some(p) = self.skim.next_piece().context("bad XML from server")? {
                return Ok(p);
            }
            let Some(io) = self.conn.as_mut() else { bail!("no connection") };
            let n = io.read(&mut self.buf).await?;
            if n == 0 {
                bail!("server closed the connection");
            }
            self.skim.push(&self.buf[..n]);
        }
    }

    /// The next top-level element, unparsed.
    pub async fn next_raw(&mut self) -> anyhow::Result<Vec<u8>> {
        match self.piece().await? {
            Piece::Element(el) => Ok(el),
            Piece::Close => bail!("stream closed"),
            Piece::Open => bail!("unexpected stream header"),
        }
    }

    /// The next top-level element.
    pub async fn next(&mut self) -> anyhow::Result<Element> {
        let raw = self.next_raw().await?;
        self.skim.parse(&raw)
    }

    /// Sends a request and waits for the element with its id, skimming what comes before it.
    async fn request_raw(&mut self, xml: &str, id: &str) -> anyhow::Result<Vec<u8>> {
        self.send_raw(xml.as_bytes()).await?;
        loop {
            let el = self.next_raw().await?;
            if skim::attribute(&el, "id") == Some(id.as_bytes()) {
                return Ok(el);
            }
        }
    }

    /// Sends a request and waits for the element with its id.
    pub async fn request(&mut self, xml: &str, id: &str) -> anyhow::Result<Element> {
        let raw = self.request_raw(xml, id).await?;
        self.skim.parse(&raw)
    }

    /// Sends an IQ request and waits for its result without parsing it; an error reply fails.
    pub async fn request_ok(&mut self, xml: &str, id: &str) -> anyhow::Result<()> {
        let raw = self.request_raw(xml, id).await?;
        match skim::attribute(&raw, "type") {
            Some(b"result") => Ok(()),
            _ => bail!("request {id} failed: {}", String::from_utf8_lossy(&raw)),
        }
    }

    /// Switches to raw reading: the bytes received but not parsed yet. From here on, only
    /// `read_raw` reads (a load generator counting stanzas need not parse them).
    pub fn take_unparsed(&mut self) -> Vec<u8> {
        self.skim.take_pending()
    }

    /// Raw bytes from the server; 0 at the end of the stream.
    pub async fn read_raw(&mut self, buf: &mut [u8]) -> anyhow::Result<usize> {
        Ok(self.io()?.read(buf).await?)
    }

    pub async fn close(mut self) {
        if let Some(io) = self.conn.as_mut() {
            let _ = io.write_all(b"</stream:stream>").await;
            let _ = io.shutdown().await;
        }
    }
}
