//! `GET /metrics`: counters and histograms in Prometheus' text exposition format (version 0.0.4),
//! written by hand: requests by route and status, request latency, batch sizes (requests, texts,
//! tokens) and compute time, queue depth and requests in flight.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the requests-per-batch and texts-per-batch buckets.
const COUNTS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// Upper bounds of the tokens-per-batch buckets.
const TOKENS: &[f64] = &[
    16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 65536.0,
];

/// A histogram with fixed buckets.
#[derive(Clone, Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    fn observe(&mut self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        self.counts[bucket] += 1;
        self.sum += value;
    }

    /// `name_bucket{labels,le=…}` lines (cumulative), then `_sum` and `_count`.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count;
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// What one batch was made of.
struct Batches {
    requests: Histogram,
    texts: Histogram,
    tokens: Histogram,
    seconds: Histogram,
}

/// The server's counters. Routes are `&'static str`s from a fixed set, so label values are
/// bounded whatever paths clients send.
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    batches: Mutex<Batches>,
    /// Jobs queued for the batcher and not yet taken.
    pub queue_depth: AtomicUsize,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(BTreeMap::new()),
            batches: Mutex::new(Batches {
                requests: Histogram::new(COUNTS),
                texts: Histogram::new(COUNTS),
                tokens: Histogram::new(TOKENS),
                seconds: Histogram::new(SECONDS),
            }),
            queue_depth: AtomicUsize::new(0),
        }
    }
}

impl Metrics {
    /// Counts a request answered on `route` with `status` after `elapsed`.
    pub fn observe_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route, status)).or_insert(0) += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            latency
                .entry(route)
                .or_insert_with(|| Histogram::new(SECONDS))
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Counts a batch of `requests` requests, `texts` texts and `tokens` tokens, computed in
    /// `elapsed`.
    pub fn observe_batch(&self, requests: usize, texts: usize, tokens: usize, elapsed: Duration) {
        if let Ok(mut b) = self.batches.lock() {
            b.requests.observe(requests as f64);
            b.texts.observe(texts as f64);
            b.tokens.observe(tokens as f64);
            b.seconds.observe(elapsed.as_secs_f64());
        }
    }

    /// The exposition text, with the gauges the caller knows.
    pub fn render(&self, in_flight: usize, connections: usize, ready: bool) -> String {
        let mut out = String::new();
        out.push_str("# HELP distil_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE distil_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "distil_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP distil_request_duration_seconds Time from the request's arrival to its answer.\n",
        );
        out.push_str("# TYPE distil_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (route, h) in latency.iter() {
                h.write(
                    &mut out,
                    "distil_request_duration_seconds",
                    &format!("route=\"{route}\""),
                );
            }
        }
        if let Ok(b) = self.batches.lock() {
            let histograms = [
                (
                    "distil_batch_requests",
                    "Requests per batch (one engine call).",
                    &b.requests,
                ),
                ("distil_batch_size", "Texts per batch.", &b.texts),
                ("distil_batch_tokens", "Tokens per batch.", &b.tokens),
                (
                    "distil_batch_duration_seconds",
                    "Compute time per batch.",
                    &b.seconds,
                ),
            ];
            for (name, help, h) in histograms {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} histogram");
                h.write(&mut out, name, "");
            }
        }
        let gauges = [
            (
                "distil_queue_depth",
                "Requests waiting for the batcher.",
                self.queue_depth.load(Ordering::Relaxed),
            ),
            (
                "distil_requests_in_flight",
                "Requests admitted and not yet answered (at most --max-concurrent).",
                in_flight,
            ),
            (
                "distil_connections_open",
                "Connections open (at most --max-connections).",
                connections,
            ),
            (
                "distil_ready",
                "1 once the model is loaded and warmed up, 0 before and while shutting down.",
                usize::from(ready),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 7.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.write(&mut out, "x", "route=\"/a\"");
        assert_eq!(
            out,
            "x_bucket{route=\"/a\",le=\"1\"} 2\n\
             x_bucket{route=\"/a\",le=\"2\"} 3\n\
             x_bucket{route=\"/a\",le=\"+Inf\"} 4\n\
             x_sum{route=\"/a\"} 10\n\
             x_count{route=\"/a\"} 4\n"
        );
    }

    #[test]
    fn renders_requests_batches_and_gauges() {
        let m = Metrics::default();
        m.observe_request("/score", 200, Duration::from_millis(20));
        m.observe_request("/score", 200, Duration::from_millis(30));
        m.observe_request("/score", 400, Duration::from_millis(1));
        m.observe_batch(3, 5, 40, Duration::from_millis(25));
        m.queue_depth.store(2, Ordering::Relaxed);
        let text = m.render(4, 7, true);
        for line in [
            "distil_requests_total{route=\"/score\",status=\"200\"} 2",
            "distil_requests_total{route=\"/score\",status=\"400\"} 1",
            "distil_request_duration_seconds_bucket{route=\"/score\",le=\"0.025\"} 2",
            "distil_request_duration_seconds_count{route=\"/score\"} 3",
            "distil_batch_requests_bucket{le=\"2\"} 0",
            "distil_batch_requests_bucket{le=\"4\"} 1",
            "distil_batch_size_sum 5",
            "distil_batch_tokens_bucket{le=\"64\"} 1",
            "distil_queue_depth 2",
            "distil_requests_in_flight 4",
            "distil_connections_open 7",
            "distil_ready 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
