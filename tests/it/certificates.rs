//! Certificates from a directory laid out as certbot or Prosody lay them out, picked by SNI;
//! reloaded by `rhein ctl reload`, by SIGHUP and when the files change, without dropping a
//! session; a broken new one refused while the old one keeps serving; `rhein cert check`.

use crate::cli::{Server, free_port, rhein, temp_dir};
use rhein_stream::tls::{CertInfo, CertPair};
use rhein_testkit::TestServer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio_rustls::rustls::pki_types::ServerName;

/// Writes a self-signed certificate for `names` as `cert` and `key`.
fn write_cert(cert: &Path, key: &Path, names: &[&str]) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let pair = CertPair::self_signed(&names).unwrap();
    std::fs::create_dir_all(cert.parent().unwrap()).unwrap();
    std::fs::write(cert, pair.cert_pem).unwrap();
    std::fs::write(key, pair.key_pem).unwrap();
}

/// certbot's layout for `host`.
fn certbot(dir: &Path, host: &str, names: &[&str]) -> PathBuf {
    let cert = dir.join(host).join("fullchain.pem");
    write_cert(&cert, &dir.join(host).join("privkey.pem"), names);
    cert
}

/// The names of the certificate a direct-TLS handshake naming `sni` is given.
async fn served_names(addr: SocketAddr, sni: &str) -> Vec<String> {
    names_over(addr, sni, true).await
}

/// The same, offering XMPP's ALPN or none (as an HTTPS client may).
async fn names_over(addr: SocketAddr, sni: &str, xmpp_alpn: bool) -> Vec<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = rhein_testkit::insecure_connector(xmpp_alpn);
    let tls = connector.connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp).await.unwrap();
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    CertInfo::of(&leaf, "served").unwrap().names
}

/// Waits until a handshake naming `sni` is given a certificate for `names`.
async fn until_served(addr: SocketAddr, sni: &str, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = served_names(addr, sni).await;
        if served == names {
            return;
        }
        assert!(Instant::now() < deadline, "{sni} still gets {served:?}, not {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn each_name_gets_its_certificate_and_a_reload_swaps_them_under_running_sessions() {
    let dir = temp_dir("certs");
    let certs = dir.join("certs");
    let fullchain = certbot(&certs, "localhost", &["localhost"]);
    write_cert(&certs.join("other.test.crt"), &certs.join("other.test.key"), &["other.test"]);
    certbot(&certs, "services", &["*.localhost"]);
    let socket = dir.join("rhein.sock");
    let (certs_dir, socket_path) = (certs.clone(), socket.clone());
    let server = TestServer::builder()
        .user("alice", "pw")
        .web()
        .configure(move |c| {
            c.server.certificates = Some(certs_dir);
            c.server.admin_socket = Some(socket_path);
        })
        .start()
        .await;
    let addr = server.c2s_tls_addr();
    assert_eq!(served_names(addr, "localhost").await, ["localhost"], "certbot's layout");
    assert_eq!(served_names(addr, "other.test").await, ["other.test"], "Prosody's layout");
    assert_eq!(served_names(addr, "conference.localhost").await, ["*.localhost"], "a wildcard");
    assert_eq!(served_names(addr, "unknown.example").await, ["localhost"], "the first host's by default");
    assert_eq!(names_over(server.https_addr(), "upload.localhost", false).await, ["*.localhost"], "HTTPS too");

    let mut alice = server.client("alice", "pw").await;
    write_cert(&fullchain, &certs.join("localhost").join("privkey.pem"), &["localhost", "renewed.localhost"]);
    let reload = crate::ctl::ctl(&socket, &["reload"]).await;
    assert_eq!(reload.code, 0, "{}", reload.stderr);
    assert_eq!(served_names(addr, "localhost").await, ["localhost", "renewed.localhost"]);
    alice.iq("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;

    // A broken renewal is refused, naming its file; the last good one keeps serving.
    std::fs::write(&fullchain, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n").unwrap();
    let report = server.running().reload();
    assert!(report.refused.iter().any(|r| r.contains("fullchain.pem")), "{report}");
    assert_eq!(served_names(addr, "localhost").await, ["localhost", "renewed.localhost"]);
    assert_eq!(served_names(addr, "other.test").await, ["other.test"]);
    alice.iq("<iq type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn changed_files_are_noticed_without_being_asked() {
    let dir = temp_dir("certs-watch");
    let certs = dir.join("certs");
    certbot(&certs, "localhost", &["localhost"]);
    let certs_dir = certs.clone();
    let server = TestServer::builder()
        .configure(move |c| {
            c.server.certificates = Some(certs_dir);
            c.server.certificate_check_secs = 1;
        })
        .start()
        .await;
    let addr = server.c2s_tls_addr();
    assert_eq!(served_names(addr, "localhost").await, ["localhost"]);
    certbot(&certs, "localhost", &["localhost", "watched.localhost"]);
    until_served(addr, "localhost", &["localhost", "watched.localhost"]).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A config for `localhost` on a direct-TLS port, with certificates from `certs`.
fn tls_config(dir: &Path, certs: &Path, port: u16) -> PathBuf {
    let path = dir.join("rhein.toml");
    let text = format!(
        "[server]\ndata_dir = \"{dir}/data\"\nstorage = \"sqlite::memory:\"\ncertificates = \"{certs}\"\n\n\
         [[hosts]]\ndomain = \"localhost\"\n\n[[listeners]]\nkind = \"c2s_tls\"\naddress = \"127.0.0.1:{port}\"\n",
        dir = dir.display(),
        certs = certs.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn sighup_reloads_the_certificates_of_the_real_binary() {
    let dir = temp_dir("certs-hup");
    let certs = dir.join("certs");
    certbot(&certs, "localhost", &["localhost"]);
    let port = free_port();
    let config = tls_config(&dir, &certs, port);
    let server =
        Server(rhein(&["serve", "--config", config.to_str().unwrap()], &dir).stderr(Stdio::null()).spawn().unwrap());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(served_names(addr, "localhost").await, ["localhost"]);
    certbot(&certs, "localhost", &["localhost", "hup.localhost"]);
    let hup = std::process::Command::new("kill").args(["-HUP", &server.0.id().to_string()]).status().unwrap();
    assert!(hup.success());
    until_served(addr, "localhost", &["localhost", "hup.localhost"]).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rhein cert check --config CONFIG`: (success, stdout).
fn cert_check(config: &Path) -> (bool, String) {
    let out =
        rhein(&["cert", "check", "--config", config.to_str().unwrap()], config.parent().unwrap()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn cert_check_prints_names_and_expiry_and_fails_on_a_certificate_about_to_expire() {
    let dir = temp_dir("cert-check");
    let certs = dir.join("certs");
    certbot(&certs, "localhost", &["localhost", "*.localhost"]);
    let config = tls_config(&dir, &certs, free_port());
    let (ok, out) = cert_check(&config);
    assert!(ok, "{out}");
    assert!(out.contains("fullchain.pem (host localhost)") && out.contains("names: localhost, *.localhost"), "{out}");
    assert!(out.contains("days left"), "{out}");

    // One that expires in five days.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["soon.localhost".to_string()]).unwrap();
    let expiry = std::time::SystemTime::now() + Duration::from_secs(5 * 86_400);
    params.not_after = expiry.into();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(certs.join("soon.crt"), cert.pem()).unwrap();
    std::fs::write(certs.join("soon.key"), key.serialize_pem()).unwrap();
    let (ok, out) = cert_check(&config);
    assert!(!ok, "{out}");
    assert!(out.contains("soon.crt") && out.contains("WARNING: expires within 14 days"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
