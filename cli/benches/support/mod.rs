//! What the server benches share: a `distil serve` child process on a free loopback port, the
//! percentiles of their latencies, and the machine's load for their reports.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `distil serve`, killed if dropped before [`Server::stop`].
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `distil serve --port 0 --model MODEL ARGS…` and waits until `/ready` answers.
    pub fn start(model: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_distil"))
            .args(["serve", "--port", "0", "--model"])
            .arg(model)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("distil serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the listening line");
        let base = line
            .trim()
            .strip_prefix("distil: listening on ")
            .expect("a listening line")
            .to_string();
        let server = Server { child, base };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{}/ready", server.base)).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "{} never got ready",
                model.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// SIGTERM, and a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.map(|s| s.success()).unwrap_or(false));
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "distil serve exited with {status}");
    }
}

impl Drop for Server {
    /// A bench that fails leaves no server behind (after `stop` the child is already gone).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `p`-th percentile (nearest rank) of `sorted` latencies; NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `uptime`'s line: the load averages beside a report's figures.
pub fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
