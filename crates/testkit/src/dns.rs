//! A tiny authoritative DNS server on loopback for tests: SRV and A records set by the test,
//! NXDOMAIN for anything else. Enough for a resolver to find a federated server by SRV
//! without ever leaving the machine.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

const SRV: u16 = 33;
const A: u16 = 1;

#[derive(Clone)]
enum Record {
    Srv { priority: u16, weight: u16, port: u16, target: String },
    A(Ipv4Addr),
}

impl Record {
    fn kind(&self) -> u16 {
        match self {
            Record::Srv { .. } => SRV,
            Record::A(_) => A,
        }
    }
}

type Zone = Arc<Mutex<HashMap<String, Vec<Record>>>>;

/// The server; it stops with the test's runtime.
pub struct FakeDns {
    pub addr: SocketAddr,
    zone: Zone,
}

impl FakeDns {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let addr = socket.local_addr().expect("address");
        let zone: Zone = Arc::default();
        let served = zone.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                if let Some(reply) = answer(&buf[..n], &served) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        Self { addr, zone }
    }

    fn add(&self, name: &str, record: Record) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.zone.lock().expect("zone").entry(name).or_default().push(record);
    }

    pub fn srv(&self, name: &str, priority: u16, weight: u16, port: u16, target: &str) {
        self.add(name, Record::Srv { priority, weight, port, target: target.to_owned() });
    }

    pub fn a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, Record::A(ip));
    }
}

/// Reads the question; `None` for anything malformed (the client then times out).
fn question(query: &[u8]) -> Option<(String, u16, usize)> {
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    Some((labels.join("."), qtype, i + 4))
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    let (name, qtype, end) = question(query)?;
    let zone = zone.lock().ok()?;
    let records: Vec<Record> = zone.get(&name).into_iter().flatten().filter(|r| r.kind() == qtype).cloned().collect();
    let rcode: u16 = if zone.contains_key(&name) { 0 } else { 3 };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&(0x8580u16 | rcode).to_be_bytes()); // response, authoritative, RD, RA
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..end]);
    for r in records {
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&r.kind().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        let mut rdata = Vec::new();
        match r {
            Record::Srv { priority, weight, port, target } => {
                rdata.extend_from_slice(&priority.to_be_bytes());
                rdata.extend_from_slice(&weight.to_be_bytes());
                rdata.extend_from_slice(&port.to_be_bytes());
                encode_name(&mut rdata, &target);
            }
            Record::A(ip) => rdata.extend_from_slice(&ip.octets()),
        }
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}
