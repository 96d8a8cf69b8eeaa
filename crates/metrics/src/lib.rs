//! The server's metrics, rendered as OpenMetrics text at `/metrics`. Counters and histograms
//! live in one process-wide set ([`metrics()`]) that the streams, the router and storage bump
//! where things happen; gauges of state (sessions, rooms, certificates) are read when scraped
//! from the parts that own it ([`Scrape`]). Labels are bounded sets (transports, mechanisms,
//! stanza kinds): never an account or an address.

mod process;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::LazyLock;

/// How a client session reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Tls,
    Websocket,
    Bosh,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TransportLabel {
    pub transport: Transport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Failed,
}

/// A login by SASL mechanism (the server's own names: a bounded set).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LoginLabels {
    pub mechanism: &'static str,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaKind {
    Message,
    Presence,
    Iq,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StanzaLabels {
    pub direction: Direction,
    pub kind: StanzaKind,
}

/// Whether a storage query went to the writing or the reading side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AccessLabel {
    pub access: Access,
}

/// Latency buckets from 100 µs to about 3 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DirectionLabel {
    pub direction: Direction,
}

/// Label values in lowercase, as Prometheus convention has them.
macro_rules! lowercase_label {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                use std::fmt::Write;
                encoder.write_str(&format!("{self:?}").to_ascii_lowercase())
            }
        }
    )*};
}

lowercase_label!(Transport, Outcome, Direction, StanzaKind, Access);

/// What happens, counted where it happens.
pub struct Metrics {
    pub client_sessions: Family<TransportLabel, Gauge>,
    pub logins: Family<LoginLabels, Counter>,
    pub stanzas: Family<StanzaLabels, Counter>,
    pub stream_bytes: Family<DirectionLabel, Counter>,
    pub slow_consumers_cut: Counter,
    pub sm_resumptions: Counter,
    pub archive_batch_size: Histogram,
    pub archive_commit_seconds: Histogram,
    pub storage_query_seconds: Family<AccessLabel, Histogram, fn() -> Histogram>,
    pub upload_bytes: Counter,
    /// Occupants seated in group chat rooms (one per nickname, whatever its sessions).
    pub muc_occupants: Gauge,
}

impl Metrics {
    fn new() -> Self {
        Self {
            client_sessions: Family::default(),
            logins: Family::default(),
            stanzas: Family::default(),
            stream_bytes: Family::default(),
            slow_consumers_cut: Counter::default(),
            sm_resumptions: Counter::default(),
            archive_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            archive_commit_seconds: latency(),
            storage_query_seconds: Family::new_with_constructor(latency),
            upload_bytes: Counter::default(),
            muc_occupants: Gauge::default(),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register("client_sessions", "Client sessions by transport", self.client_sessions.clone());
        r.register("logins", "SASL logins by mechanism and outcome", self.logins.clone());
        r.register("stanzas", "Client stanzas by direction and kind", self.stanzas.clone());
        r.register_with_unit(
            "stream",
            "Bytes of XMPP streams (clients, servers, components; WebSocket and BOSH as bridged)",
            Unit::Bytes,
            self.stream_bytes.clone(),
        );
        r.register("slow_consumers_cut", "Sessions closed for not reading", self.slow_consumers_cut.clone());
        r.register("sm_resumptions", "XEP-0198 sessions resumed", self.sm_resumptions.clone());
        r.register(
            "archive_batch_size",
            "Messages committed together by the archive writer",
            self.archive_batch_size.clone(),
        );
        r.register_with_unit(
            "archive_commit",
            "Time an archive batch took to commit",
            Unit::Seconds,
            self.archive_commit_seconds.clone(),
        );
        r.register_with_unit(
            "storage_query",
            "Time storage queries took, by pool",
            Unit::Seconds,
            self.storage_query_seconds.clone(),
        );
        r.register_with_unit("upload", "Bytes of files uploaded", Unit::Bytes, self.upload_bytes.clone());
        r.register("muc_occupants", "Occupants of group chat rooms", self.muc_occupants.clone());
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Records how long a storage query took.
pub fn storage_query(access: Access, started: std::time::Instant) {
    metrics().storage_query_seconds.get_or_create(&AccessLabel { access }).observe(started.elapsed().as_secs_f64());
}

/// The process-wide counters.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// One scrape: the counters, the process's figures, and gauges of the server's state added
/// by the parts that own it.
pub struct Scrape {
    registry: Registry,
}

impl Default for Scrape {
    fn default() -> Self {
        Self { registry: Registry::with_prefix("rhein") }
    }
}

impl Scrape {
    /// A gauge with one value.
    pub fn gauge(&mut self, name: &str, help: &str, value: i64) {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        self.registry.register(name, help, gauge);
    }

    /// A gauge with a value per value of `label` (a bounded set: kinds, hosts, files).
    pub fn gauges(&mut self, name: &str, help: &str, label: &'static str, values: &[(String, i64)]) {
        let family = Family::<Vec<(&'static str, String)>, Gauge>::default();
        for (value, n) in values {
            family.get_or_create(&vec![(label, value.clone())]).set(*n);
        }
        self.registry.register(name, help, family);
    }

    /// Everything, as OpenMetrics text (names prefixed `rhein_`).
    pub fn render(mut self) -> String {
        metrics().register(&mut self.registry);
        process::register(&mut self.registry);
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
