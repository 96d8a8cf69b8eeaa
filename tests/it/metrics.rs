//! `/metrics` on the HTTP listener: OpenMetrics text of counters (logins, stanzas, sessions
//! by transport) and of the server's state, for loopback peers only.

use crate::web::http;
use rhein_server::ListenerKind;
use rhein_testkit::TestServer;

/// The value of the sample `name{labels}` (exactly as rendered), if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_logins_sessions_and_stanzas_and_show_the_state() {
    let server = TestServer::builder()
        .user("alice", "pw")
        .web()
        .configure(|c| c.metrics.listen = Some("127.0.0.1:0".parse().unwrap()))
        .start()
        .await;
    let mut alice = server.client("alice", "pw").await;
    alice.iq("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    crate::muc::create(&mut alice, "lounge@conference.localhost", "alice", "").await;
    let channel = "<create xmlns='urn:xmpp:mix:core:1' channel='news'/>";
    let created = alice.iq(&format!("<iq type='set' id='c' to='channels.localhost'>{channel}</iq>")).await;
    assert_eq!(created.attr("type"), Some("result"), "{created:?}");
    let tcp = tokio::net::TcpStream::connect(server.http_addr()).await.unwrap();
    let (status, headers, body) =
        http(tcp, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    assert!(status.contains("200"), "{status}");
    assert!(crate::web::header(&headers, "content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    // Counters are the process's (other tests' servers count too): at least this one's.
    let logins = sample(&body, "rhein_logins_total{mechanism=\"SCRAM-SHA-256\",outcome=\"ok\"}");
    assert!(logins.is_some_and(|n| n >= 1.0), "{body}");
    let pings = sample(&body, "rhein_stanzas_total{direction=\"in\",kind=\"iq\"}");
    assert!(pings.is_some_and(|n| n >= 1.0), "{body}");
    let sessions = sample(&body, "rhein_client_sessions{transport=\"tcp\"}");
    assert!(sessions.is_some_and(|n| n >= 1.0), "{body}");
    let bytes_in = sample(&body, "rhein_stream_bytes_total{direction=\"in\"}");
    assert!(bytes_in.is_some_and(|n| n > 100.0), "{body}");
    let reads = sample(&body, "rhein_storage_query_seconds_count{access=\"read\"}");
    assert!(reads.is_some_and(|n| n >= 1.0), "{body}");
    // The state is this server's.
    assert_eq!(sample(&body, "rhein_bound_resources"), Some(1.0), "{body}");
    assert!(sample(&body, "rhein_process_resident_memory_bytes").is_some_and(|n| n > 0.0), "{body}");
    assert!(body.contains("rhein_certificate_expiry_seconds{certificate="), "{body}");
    assert_eq!(sample(&body, "rhein_muc_rooms_in_memory"), Some(1.0), "{body}");
    assert_eq!(sample(&body, "rhein_mix_channels_in_memory"), Some(1.0), "{body}");
    assert!(sample(&body, "rhein_muc_occupants").is_some_and(|n| n >= 1.0), "{body}");
    // Alice reads what she is sent: nothing waits for her.
    assert_eq!(sample(&body, "rhein_session_queued_max"), Some(0.0), "{body}");

    // `[metrics] listen`: an address of its own, serving nothing else.
    let own = server.running().addr(ListenerKind::Metrics).unwrap();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let (status, _, body) = http(tokio::net::TcpStream::connect(own).await.unwrap(), &get("/metrics")).await;
    assert!(status.contains("200") && body.contains("rhein_bound_resources 1"), "{status}\n{body}");
    let (status, _, _) = http(tokio::net::TcpStream::connect(own).await.unwrap(), &get("/health")).await;
    assert!(status.contains("404"), "{status}");
}
