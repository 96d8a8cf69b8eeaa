//! Behind a reverse proxy: `[web] trusted_proxies` makes the address a proxy's
//! `X-Forwarded-For` names the client's (per-address caps, `/metrics`), frees the proxy's own
//! connections from the per-address cap, and nobody else's header counts. Then the same
//! through a real nginx (Debian's), configured as the README says.

use crate::web::{http, ws_handshake};
use rhein_testkit::TestServer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};

/// A server with web listeners, two connections per address, and loopback as its proxy
/// (or none).
async fn web_server(trusting: bool) -> TestServer {
    TestServer::builder()
        .user("alice", "pw")
        .web()
        .configure(move |c| {
            c.limits.max_connections_per_address = 2;
            if trusting {
                c.web.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            }
        })
        .start()
        .await
}

/// The status of `GET /metrics` with these `X-Forwarded-For` values.
async fn metrics_status(addr: SocketAddr, forwarded: Option<&str>) -> String {
    let header = forwarded.map(|f| format!("X-Forwarded-For: {f}\r\n")).unwrap_or_default();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\n{header}Connection: close\r\n\r\n");
    http(TcpStream::connect(addr).await.unwrap(), &request).await.0
}

#[tokio::test]
async fn a_trusted_proxy_names_its_clients_and_others_headers_count_for_nothing() {
    let server = web_server(true).await;
    let addr = server.http_addr();
    assert!(metrics_status(addr, None).await.contains("200"), "the proxy's own request, from this machine");
    assert!(metrics_status(addr, Some("203.0.113.9")).await.contains("404"), "a client elsewhere");

    // WebSocket sessions count against the client's address, not the proxy's: two each for
    // two clients, over four connections from the proxy, past its per-address cap.
    let mut sessions = Vec::new();
    for client in ["198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.2"] {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut ws = ws_handshake(tcp, addr, &[("X-Forwarded-For", client)]).await.expect("a session");
        ws.open().await;
        sessions.push(ws);
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    let third = ws_handshake(tcp, addr, &[("X-Forwarded-For", "198.51.100.1")]).await;
    assert_eq!(third.err(), Some(429), "the client's own cap");

    // Without trusted proxies the header is anyone's to write: it is ignored.
    let plain = web_server(false).await;
    assert!(metrics_status(plain.http_addr(), Some("203.0.113.9")).await.contains("200"));
}

/// A private nginx in front of `upstream`, on a port of its own; stopped on drop.
struct Nginx {
    dir: PathBuf,
    child: std::process::Child,
    addr: SocketAddr,
}

impl Nginx {
    /// `None` when nginx is not installed.
    async fn start(upstream: SocketAddr) -> Option<Self> {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().map(Path::new).find(|p| p.exists())?;
        let dir = std::env::temp_dir().join(format!("rhein-nginx-{}-{}", std::process::id(), upstream.port()));
        std::fs::create_dir_all(&dir).ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let is_root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let config = nginx_config(&dir, addr, upstream, is_root);
        std::fs::write(dir.join("nginx.conf"), config).ok()?;
        let child = std::process::Command::new(bin)
            .args(["-p", dir.to_str()?, "-c", dir.join("nginx.conf").to_str()?])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let nginx = Self { dir, child, addr };
        for _ in 0..200 {
            if TcpStream::connect(addr).await.is_ok() {
                return Some(nginx);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nginx did not start: {:?}", std::fs::read_to_string(nginx.dir.join("error.log")));
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so the master stops its workers (SIGKILL would leave them running).
        let _ = std::process::Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The README's proxy configuration (without its TLS lines), with private paths.
fn nginx_config(dir: &Path, listen: SocketAddr, upstream: SocketAddr, is_root: bool) -> String {
    let d = dir.display();
    let user = if is_root { "user root;\n" } else { "" };
    format!(
        "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{\n    listen {listen};\n\
         location /xmpp-websocket {{\n      proxy_pass http://{upstream};\n      proxy_http_version 1.1;\n\
         proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection \"upgrade\";\n\
         proxy_set_header Host $host;\n      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         proxy_read_timeout 900s;\n    }}\n\
         location / {{\n      proxy_pass http://{upstream};\n      proxy_set_header Host $host;\n\
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n"
    )
}

/// A connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn clients_behind_nginx_log_in_and_are_told_apart() {
    let server = web_server(true).await;
    let Some(nginx) = Nginx::start(server.http_addr()).await else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must provide nginx");
        return eprintln!("skipped: needs nginx");
    };
    // A web client logs in through the proxy and is a full session.
    let tcp = connect_from([127, 0, 0, 2], nginx.addr).await;
    let mut alice = ws_handshake(tcp, nginx.addr, &[]).await.expect("a WebSocket through nginx");
    assert!(alice.login("alice", "pw").await.starts_with("alice@localhost/"));
    alice.send("<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(alice.next().await.attr("type"), Some("result"));

    // Two clients, two sessions each, all over nginx's connections from 127.0.0.1: each
    // client reaches its own cap, and nginx none.
    let mut sessions = vec![alice];
    for from in [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 3]] {
        let tcp = connect_from(from, nginx.addr).await;
        let mut ws = ws_handshake(tcp, nginx.addr, &[]).await.expect("a session");
        ws.open().await;
        sessions.push(ws);
    }
    let tcp = connect_from([127, 0, 0, 2], nginx.addr).await;
    assert_eq!(ws_handshake(tcp, nginx.addr, &[]).await.err(), Some(429), "127.0.0.2's third");
    let status = http(
        connect_from([127, 0, 0, 4], nginx.addr).await,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .0;
    assert!(status.contains("200"), "plain requests pass too: {status}");
}
