//! What the plugin counts while it works, for the people who run it: bytes
//! and calls by server, LSU and direction, the latency and outcome of every
//! request to the cluster (S3 and VMS) by operation, retries by cause, and
//! gauges read when the figures are written (memory budget, open images,
//! circuit breakers). One registry per process ([`global`]); the plugin
//! writes it in Prometheus' text format where node_exporter's textfile
//! collector reads it, and `vastost stats` reads those files back
//! ([`text`]). No dependencies, so every layer can count.
#![forbid(unsafe_code)]

pub mod text;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Which service a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// The S3 data endpoints.
    S3,
    /// The VMS REST API.
    Vms,
}

impl Service {
    fn as_str(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::Vms => "vms",
        }
    }
}

/// Which way data moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Backups: `write_image`.
    Write,
    /// Restores: `read_image`.
    Read,
}

impl Direction {
    /// The name used in labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Write => "write",
            Direction::Read => "read",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Requests per bucket of [`BUCKETS`], plus the last for the rest.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += secs;
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// (server, LSU, direction) → (bytes, calls).
    transfers: BTreeMap<(String, String, Direction), (u64, u64)>,
    /// (service, operation) → latency.
    latency: BTreeMap<(Service, String), Histogram>,
    /// (service, operation, outcome) → requests.
    outcomes: BTreeMap<(Service, String, String), u64>,
    /// (service, cause) → retries.
    retries: BTreeMap<(Service, String), u64>,
}

/// A value read when the figures are written.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// Metric name (`vastost_...`).
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Its labels.
    pub labels: Vec<(&'static str, String)>,
    /// Its value.
    pub value: f64,
}

type Probe = Box<dyn Fn() -> Option<Vec<Gauge>> + Send + Sync>;

/// The process's counters.
#[derive(Default)]
pub struct Registry {
    counters: Mutex<Counters>,
    /// Gauges of parts that come and go (a probe answering `None` is gone
    /// and dropped).
    probes: Mutex<Vec<Probe>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// The registry of this process.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

impl Registry {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one `write_image` or `read_image` call of `bytes`.
    pub fn transfer(&self, server: &str, lsu: &str, direction: Direction, bytes: u64) {
        let mut c = self.counters();
        let entry = c.transfers.entry((server.to_string(), lsu.to_string(), direction)).or_default();
        entry.0 += bytes;
        entry.1 += 1;
    }

    /// Counts one request of operation `op` to `service`, answered after
    /// `took` with `outcome` (`2xx`, `4xx`, `5xx`, `error`).
    pub fn request(&self, service: Service, op: &str, took: Duration, outcome: &str) {
        let mut c = self.counters();
        c.latency.entry((service, op.to_string())).or_default().observe(took.as_secs_f64());
        *c.outcomes.entry((service, op.to_string(), outcome.to_string())).or_default() += 1;
    }

    /// Counts one retry of a request to `service`, caused by `cause`.
    pub fn retry(&self, service: Service, cause: &str) {
        *self.counters().retries.entry((service, cause.to_string())).or_default() += 1;
    }

    /// Adds gauges read at each [`Registry::render`]; the probe answers
    /// `None` once what it watches is gone, and is dropped then.
    pub fn probe(&self, probe: impl Fn() -> Option<Vec<Gauge>> + Send + Sync + 'static) {
        self.probes.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(probe));
    }

    /// Everything in Prometheus' text format (0.0.4), each sample with
    /// `labels` added (e.g. the process id, so the files of several
    /// processes can sit side by side), followed by `gauges`.
    pub fn render(&self, labels: &[(&str, String)], gauges: &[Gauge]) -> String {
        let mut probed = Vec::new();
        self.probes.lock().unwrap_or_else(|p| p.into_inner()).retain(|probe| match probe() {
            Some(g) => {
                probed.extend(g);
                true
            }
            None => false,
        });
        let c = self.counters();
        let mut out = Out { text: String::new(), common: labels };
        out.family("vastost_transfer_bytes_total", "counter", "Bytes written (backups) and read (restores).");
        for ((server, lsu, dir), (bytes, _)) in &c.transfers {
            out.sample(
                "vastost_transfer_bytes_total",
                &[("server", server), ("lsu", lsu), ("direction", dir.as_str())],
                *bytes as f64,
            );
        }
        out.family("vastost_transfer_calls_total", "counter", "write_image and read_image calls.");
        for ((server, lsu, dir), (_, calls)) in &c.transfers {
            out.sample(
                "vastost_transfer_calls_total",
                &[("server", server), ("lsu", lsu), ("direction", dir.as_str())],
                *calls as f64,
            );
        }
        out.family(
            "vastost_request_seconds",
            "histogram",
            "Time from sending a request to the cluster to its answer's headers.",
        );
        for ((service, op), h) in &c.latency {
            let base = [("service", service.as_str()), ("op", op.as_str())];
            let mut cumulative = 0;
            for (i, n) in h.counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                out.sample("vastost_request_seconds_bucket", &[base[0], base[1], ("le", &le)], cumulative as f64);
            }
            out.sample("vastost_request_seconds_sum", &base, h.sum);
            out.sample("vastost_request_seconds_count", &base, cumulative as f64);
        }
        out.family(
            "vastost_requests_total",
            "counter",
            "Requests to the cluster by answer: 2xx, 4xx, 5xx, or error (no answer).",
        );
        for ((service, op, outcome), n) in &c.outcomes {
            out.sample(
                "vastost_requests_total",
                &[("service", service.as_str()), ("op", op), ("outcome", outcome)],
                *n as f64,
            );
        }
        out.family("vastost_retries_total", "counter", "Requests retried, by cause.");
        for ((service, cause), n) in &c.retries {
            out.sample("vastost_retries_total", &[("service", service.as_str()), ("cause", cause)], *n as f64);
        }
        drop(c);
        let mut all: Vec<&Gauge> = gauges.iter().chain(probed.iter()).collect();
        all.sort_by(|a, b| a.name.cmp(b.name));
        let mut last = "";
        for g in all {
            if g.name != last {
                out.family(g.name, "gauge", g.help);
                last = g.name;
            }
            let labels: Vec<(&str, &str)> = g.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            out.sample(g.name, &labels, g.value);
        }
        out.text
    }
}

struct Out<'a> {
    text: String,
    common: &'a [(&'a str, String)],
}

impl Out<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut parts: Vec<String> = self.common.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        parts.extend(labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))));
        let _ = writeln!(self.text, "{name}{{{}}} {value}", parts.join(","));
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_come_out_in_the_text_format_and_parse_back() {
        let r = Registry::default();
        r.transfer("VastData:a", "lsu\"1", Direction::Write, 1 << 20);
        r.transfer("VastData:a", "lsu\"1", Direction::Write, 1 << 20);
        r.request(Service::S3, "PutObject", Duration::from_millis(3), "2xx");
        r.request(Service::S3, "PutObject", Duration::from_secs(20), "5xx");
        r.retry(Service::S3, "temporary");
        let gone = std::sync::Arc::new(());
        let weak = std::sync::Arc::downgrade(&gone);
        r.probe(move || {
            weak.upgrade().map(|_| vec![Gauge { name: "vastost_x", help: "x", labels: vec![], value: 1.0 }])
        });
        let text = r.render(&[("pid", "7".into())], &[]);
        let samples = text::parse(&text);
        let value = |name: &str, labels: &[(&str, &str)]| {
            samples
                .iter()
                .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
                .map(|s| s.value)
        };
        assert_eq!(value("vastost_transfer_bytes_total", &[("lsu", "lsu\"1"), ("pid", "7")]), Some(2097152.0));
        assert_eq!(value("vastost_transfer_calls_total", &[("direction", "write")]), Some(2.0));
        assert_eq!(value("vastost_request_seconds_bucket", &[("op", "PutObject"), ("le", "0.005")]), Some(1.0));
        assert_eq!(value("vastost_request_seconds_bucket", &[("op", "PutObject"), ("le", "+Inf")]), Some(2.0));
        assert_eq!(value("vastost_requests_total", &[("outcome", "5xx")]), Some(1.0));
        assert_eq!(value("vastost_retries_total", &[("cause", "temporary")]), Some(1.0));
        assert_eq!(value("vastost_x", &[]), Some(1.0));
        drop(gone);
        assert!(!r.render(&[], &[]).contains("vastost_x"), "a probe whose part is gone is dropped");
    }
}
