//! A SCRAM client-final message after a fixed client-first one. The harness writes the
//! server's nonce wherever the input says `r=*`, so inputs get past the nonce check.
use rhein_sasl::{ChannelBinding, ClientBinding, ClientFirst, Credentials, Mechanism, ScramServer};

fn main() {
    let creds = Credentials::derive_scram("pencil", b"salt".to_vec(), 1, String::new());
    let tls = ChannelBinding { tls_exporter: Some(vec![1; 32]), tls_server_end_point: Some(vec![2; 32]) };
    let firsts: [(Mechanism, &[u8]); 3] = [
        (Mechanism::ScramSha1, b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"),
        (Mechanism::ScramSha256, b"n,a=admin,n=user,r=rOprNGfwEbeRWgbNEkqO"),
        (Mechanism::ScramSha256Plus, b"p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
    ];
    afl::fuzz!(|data: &[u8]| {
        for (mechanism, first) in firsts {
            let first = ClientFirst::parse(mechanism, first, &tls, &mut ClientBinding::default())
                .expect("a valid client-first");
            let (server, server_first) = ScramServer::start(first, &creds, true, None);
            let nonce = server_first.split(|b| *b == b',').next().unwrap_or_default();
            let last = replace(data, b"r=*", nonce);
            assert!(server.finish(&last, &tls).is_err(), "a proof without the password");
        }
    });
}

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}
