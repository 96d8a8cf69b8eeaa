//! Where a remote domain's server listens (RFC 6120 §3.2.1 with XEP-0368): a pinned route;
//! else the SRV records `_xmpps-server._tcp` (direct TLS) and `_xmpp-server._tcp`
//! (STARTTLS) in priority order; else, when the domain has no such records, the domain
//! itself on port 5269.

use hickory_resolver::TokioResolver;
use std::net::SocketAddr;
use std::str::FromStr;

/// The default port of server-to-server streams (RFC 6120 §3.2.2).
pub(crate) const S2S_PORT: u16 = 5269;

/// A fixed address for a remote domain, optionally speaking direct TLS (`tls:ADDR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub addr: SocketAddr,
    pub direct_tls: bool,
}

impl FromStr for Route {
    type Err = String;

    /// `127.0.0.1:5269` (STARTTLS) or `tls:127.0.0.1:5270` (XEP-0368 direct TLS).
    fn from_str(s: &str) -> Result<Self, String> {
        let (direct_tls, addr) = match s.strip_prefix("tls:") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let addr = addr.parse().map_err(|_| format!("{s:?} is not ADDR:PORT or tls:ADDR:PORT"))?;
        Ok(Self { addr, direct_tls })
    }
}

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub direct_tls: bool,
}

/// An SRV record as far as ordering goes.
#[derive(Debug, Clone)]
pub(crate) struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub target: String,
    pub port: u16,
}

/// The targets to try, in order; `None` when the domain says it offers no XMPP service (a
/// single SRV record with target ".").
pub(crate) fn order(domain: &str, xmpps: Vec<Srv>, xmpp: Vec<Srv>) -> Option<Vec<Target>> {
    let unavailable = |records: &[Srv]| records.len() == 1 && records[0].target.trim_end_matches('.').is_empty();
    if unavailable(&xmpp) && (xmpps.is_empty() || unavailable(&xmpps)) {
        return None;
    }
    let mut all: Vec<(Srv, bool)> = xmpps
        .into_iter()
        .map(|s| (s, true))
        .chain(xmpp.into_iter().map(|s| (s, false)))
        .filter(|(s, _)| !s.target.trim_end_matches('.').is_empty())
        .collect();
    if all.is_empty() {
        return Some(vec![Target { host: domain.to_owned(), port: S2S_PORT, direct_tls: false }]);
    }
    // Lower priority first; at equal priority heavier first (a deterministic reading of
    // RFC 2782's weighting), and direct TLS before STARTTLS (XEP-0368 §3).
    all.sort_by(|(a, a_tls), (b, b_tls)| {
        a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)).then(b_tls.cmp(a_tls))
    });
    let targets = all
        .into_iter()
        .map(|(s, direct_tls)| Target { host: s.target.trim_end_matches('.').to_owned(), port: s.port, direct_tls })
        .collect();
    Some(targets)
}

/// Looks up the SRV records of a domain: empty when it has none.
async fn srv(resolver: &TokioResolver, name: &str) -> Result<Vec<Srv>, String> {
    match resolver.srv_lookup(name).await {
        Ok(lookup) => Ok(lookup
            .iter()
            .map(|r| Srv { priority: r.priority(), weight: r.weight(), target: r.target().to_utf8(), port: r.port() })
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(format!("SRV lookup of {name} failed: {e}")),
    }
}

/// The targets of `domain` from DNS.
pub(crate) async fn targets(resolver: &TokioResolver, domain: &str) -> Result<Vec<Target>, String> {
    let (xmpps_name, xmpp_name) = (format!("_xmpps-server._tcp.{domain}."), format!("_xmpp-server._tcp.{domain}."));
    let (xmpps, xmpp) = tokio::join!(srv(resolver, &xmpps_name), srv(resolver, &xmpp_name));
    order(domain, xmpps?, xmpp?).ok_or_else(|| format!("{domain} offers no XMPP service"))
}

/// The addresses of one target's host.
pub(crate) async fn addresses(resolver: &TokioResolver, target: &Target) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = target.host.parse() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let ips = resolver.lookup_ip(format!("{}.", target.host)).await.map_err(|e| format!("{}: {e}", target.host))?;
    Ok(ips.iter().map(|ip| SocketAddr::new(ip, target.port)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, target: &str, port: u16) -> Srv {
        Srv { priority, weight, target: target.into(), port }
    }

    fn t(host: &str, port: u16, direct_tls: bool) -> Target {
        Target { host: host.into(), port, direct_tls }
    }

    #[test]
    fn no_records_fall_back_to_the_domain() {
        assert_eq!(order("example.org", vec![], vec![]), Some(vec![t("example.org", 5269, false)]));
    }

    #[test]
    fn records_are_tried_by_priority_weight_then_direct_tls_first() {
        let xmpps = vec![srv(10, 0, "tls.example.org.", 5270)];
        let xmpp = vec![
            srv(20, 0, "backup.example.org.", 5269),
            srv(10, 0, "xmpp.example.org.", 5269),
            srv(10, 5, "big.example.org.", 5269),
        ];
        assert_eq!(
            order("example.org", xmpps, xmpp),
            Some(vec![
                t("big.example.org", 5269, false),
                t("tls.example.org", 5270, true),
                t("xmpp.example.org", 5269, false),
                t("backup.example.org", 5269, false),
            ])
        );
    }

    #[test]
    fn a_dot_target_means_no_service() {
        assert_eq!(order("example.org", vec![], vec![srv(0, 0, ".", 0)]), None);
        // ... unless direct TLS is offered.
        let only_tls = order("example.org", vec![srv(0, 0, "x.example.org.", 5223)], vec![srv(0, 0, ".", 0)]);
        assert_eq!(only_tls, Some(vec![t("x.example.org", 5223, true)]));
    }

    #[test]
    fn routes_parse_with_and_without_tls() {
        assert_eq!(
            "127.0.0.1:5269".parse::<Route>().unwrap(),
            Route { addr: "127.0.0.1:5269".parse().unwrap(), direct_tls: false }
        );
        assert!("tls:[::1]:5270".parse::<Route>().unwrap().direct_tls);
        assert!("localhost:5269".parse::<Route>().is_err());
    }
}
