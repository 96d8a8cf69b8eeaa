//! What `/metrics` shows beside the counters: the running server's state, read at each
//! scrape from the parts that own it.

use crate::certs::Certificates;
use rhein_metrics::Scrape;
use rhein_router::Router;
use rhein_stream::Connections;
use std::sync::Arc;
use std::time::SystemTime;

/// The parts a scrape reads.
pub(crate) struct ServerState {
    pub router: Router,
    pub s2s: Option<rhein_s2s::S2s>,
    pub connections: Connections,
    pub http_connections: Connections,
    pub certificates: Arc<Certificates>,
}

impl ServerState {
    /// OpenMetrics text of the counters and the state now.
    pub(crate) fn render(&self) -> String {
        let mut scrape = Scrape::default();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        scrape.gauge("connections", "Open XMPP connections (TCP, WebSocket, BOSH)", count(self.connections.total()));
        scrape.gauge("http_connections", "Open HTTP connections", count(self.http_connections.total()));
        scrape.gauge("bound_resources", "Client resources bound", count(self.router.session_count()));
        scrape.gauge("components", "External components connected", count(self.router.connected_components().len()));
        let (queued, fullest) = self.router.queued();
        scrape.gauge("session_queued", "Stanzas waiting in client sessions' queues", count(queued));
        scrape.gauge("session_queued_max", "Stanzas waiting in the fullest client session queue", count(fullest));
        if let Some(muc) = self.router.provided::<rhein_mod_muc::MucAdministration>() {
            scrape.gauge("muc_rooms_in_memory", "Group chat rooms in memory", count(muc.rooms_in_memory()));
        }
        if let Some(mix) = self.router.provided::<rhein_mod_mix::MixStatistics>() {
            scrape.gauge("mix_channels_in_memory", "MIX channels in memory", count(mix.channels_in_memory()));
        }
        let links = self.s2s.as_ref().map(|s| s.links()).unwrap_or_default();
        let inbound = links.iter().filter(|l| l.inbound).count();
        let by_direction = [("in".to_owned(), count(inbound)), ("out".to_owned(), count(links.len() - inbound))];
        scrape.gauges("s2s_links", "Federation links by direction", "direction", &by_direction);
        let now = SystemTime::now();
        let expiry: Vec<(String, i64)> = self
            .certificates
            .report()
            .into_iter()
            .map(|(file, info)| (file, count(info.remaining(now).as_secs() as usize)))
            .collect();
        scrape.gauges("certificate_expiry_seconds", "Seconds until each certificate expires", "certificate", &expiry);
        scrape.render()
    }
}
