//! The process's own figures, read from /proc when scraped (Linux; elsewhere none).

use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};

/// CPU seconds, resident memory and open file descriptors.
pub(crate) fn register(r: &mut Registry) {
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else { return };
    // Fields after the command name (which may hold spaces), from field 3 on.
    let Some(fields) = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>()) else {
        return;
    };
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime (fields 14, 15) in clock ticks; Linux's USER_HZ is 100.
    let cpu = (field(14) + field(15)) as f64 / 100.0;
    let rss = field(24) * 4096;
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    r.register_with_unit("process_cpu", "CPU time used", Unit::Seconds, ConstGauge::new(cpu));
    let resident = Gauge::<i64>::default();
    resident.set(i64::try_from(rss).unwrap_or(i64::MAX));
    r.register_with_unit("process_resident_memory", "Resident memory", Unit::Bytes, resident);
    let open = Gauge::<i64>::default();
    open.set(i64::try_from(fds).unwrap_or(i64::MAX));
    r.register("process_open_fds", "Open file descriptors", open);
}
