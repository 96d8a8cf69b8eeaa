//! A SCRAM client-first message, for every SCRAM mechanism, with and without channel
//! binding; when it parses, the server's first message answers it.
use rhein_sasl::{Advertised, ChannelBinding, ClientBinding, ClientFirst, Credentials, Mechanism, ScramServer};

fn main() {
    let creds = Credentials::derive_scram("pencil", b"salt".to_vec(), 1, String::new());
    let tls = ChannelBinding { tls_exporter: Some(vec![1; 32]), tls_server_end_point: Some(vec![2; 32]) };
    afl::fuzz!(|data: &[u8]| {
        for cb in [&tls, &ChannelBinding::default()] {
            for mechanism in Mechanism::ALL.into_iter().filter(|m| *m != Mechanism::Plain) {
                if let Ok(first) = ClientFirst::parse(mechanism, data, cb, &mut ClientBinding::default()) {
                    assert!(!first.username.is_empty());
                    let advertised = Advertised { mechanisms: &Mechanism::ALL, binding: cb };
                    let (_, server_first) = ScramServer::start(first, &creds, true, Some(advertised));
                    assert!(server_first.starts_with(b"r="));
                    assert!(server_first.windows(3).any(|w| w == b",h="), "downgrade protection");
                }
            }
        }
    });
}
