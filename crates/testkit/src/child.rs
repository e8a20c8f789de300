//! Child processes that a test drives and kills: the test program runs
//! itself again with one test selected (the "child"), which reports its
//! progress as `CRASH:<what>` lines on stdout, and is killed with SIGKILL
//! (no destructor, no flush, no close) when it has said enough.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Reports progress from a child, for [`run_and_kill`] to count.
pub fn say(what: &str) {
    let mut out = std::io::stdout().lock();
    // On a line of its own: the test harness may have begun one
    // ("test child ... ").
    writeln!(out, "\nCRASH:{what}").unwrap();
    out.flush().unwrap();
}

/// When to kill the child: after it printed `lines` progress lines, plus
/// `delay` (so kills land between the points it reports, too).
#[derive(Debug, Clone, Copy)]
pub struct KillAt {
    /// Progress lines to wait for.
    pub lines: usize,
    /// Time to wait after them.
    pub delay: Duration,
}

impl KillAt {
    /// A random point: up to `max_lines` lines, then up to `max_delay_ms`.
    pub fn random(rng: &mut fastrand::Rng, max_lines: usize, max_delay_ms: u64) -> Self {
        KillAt { lines: rng.usize(0..=max_lines), delay: Duration::from_millis(rng.u64(0..=max_delay_ms)) }
    }
}

/// Runs test `test` of this test program in a child process with `env`
/// (and the plugin this process uses), kills it at `at`, and returns the
/// progress lines it printed.
pub fn run_and_kill(test: &str, env: &[(&str, &str)], at: KillAt) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .envs(env.iter().copied())
        .env("VASTOST_PLUGIN", crate::plugin_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(l) = line.strip_prefix("CRASH:")
                && tx.send(l.to_string()).is_err()
            {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while lines.len() < at.lines {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    std::thread::sleep(at.delay);
    let _ = child.kill();
    let _ = child.wait();
    lines.extend(rx.try_iter());
    lines
}
