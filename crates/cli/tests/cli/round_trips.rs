//! What a job waits for on a cluster a network away: its S3 requests, as
//! the plugin logs them at trace level (each with the time it ended and
//! how long it took), grouped into the round trips it waited for in turn;
//! and what a job is told when what the host remembers is out of date.

use super::*;

/// One S3 request: when it was sent and answered (ms since the epoch),
/// and what it was.
#[derive(Debug)]
struct Request {
    sent: f64,
    done: f64,
    what: String,
}

/// The S3 requests of the log files in `dir`, in the order they were sent.
fn requests(dir: &Path) -> Vec<Request> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| l.contains("S3 request")) {
            let stamp = line.split_whitespace().next().unwrap();
            let done = chrono_ms(stamp);
            let ms: f64 = line.rsplit_once("ms=").unwrap().1.trim().parse().unwrap();
            let what = line.split_once("op=").unwrap().1.to_string();
            out.push(Request { sent: done - ms, done, what });
        }
    }
    out.sort_by(|a, b| a.sent.total_cmp(&b.sent));
    out
}

/// Milliseconds of the day of an RFC 3339 UTC time stamp
/// (`2026-12-07T03:46:04.621563Z`): enough to order one test's requests.
fn chrono_ms(stamp: &str) -> f64 {
    let time = stamp.split_once('T').unwrap().1.trim_end_matches('Z');
    let mut parts = time.split(':');
    let (h, m, s): (f64, f64, f64) = (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    );
    ((h * 60.0 + m) * 60.0 + s) * 1000.0
}

/// The requests grouped into waves: a wave is what was sent before any
/// answer of the wave came back, so a job waits for its waves in turn.
fn waves(requests: &[Request]) -> Vec<Vec<&str>> {
    let mut out: Vec<(f64, Vec<&str>)> = Vec::new();
    for r in requests {
        match out.last_mut() {
            Some((first_done, wave)) if r.sent < *first_done => {
                wave.push(&r.what);
                *first_done = first_done.min(r.done);
            }
            _ => out.push((r.done, vec![&r.what])),
        }
    }
    out.into_iter().map(|(_, w)| w).collect()
}

#[test]
fn jobs_wait_for_few_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    // Far enough that a round trip dwarfs the scheduling of two cores.
    let (mut sim, s3, _) = start_sim(dir.path(), &["--bucket", "pool1", "--in-memory", "--latency", "40ms"]);
    let creds = support::write_sim_credentials(dir.path());
    let (logs, state) = (dir.path().join("logs"), dir.path().join("state"));
    std::fs::create_dir_all(&logs).unwrap();
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin]\nlog_level = \"trace\"\nlog_file = \"{}\"\nstate_dir = \"{}\"\n[server.\"sim\"]\n\
             data_path = \"s3\"\nendpoint = \"{s3}\"\ncredentials_file = \"{}\"\nlsus = [\"pool1\"]\n",
            logs.join("plugin.log").display(),
            state.display(),
            creds.display()
        ),
    )
    .unwrap();
    let env = Env { dir, config };
    let args = ["--server", "VastData:sim", "--lsu", "pool1", "--image", "far", "--date", "1"];
    let content = support::bytes(5, 300_000);
    ok(&vastost_stdin(&env, &[&["backup"][..], &args].concat(), Some(&content)));
    let restore = || {
        for f in std::fs::read_dir(&logs).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        let out = vastost(&env, &[&["restore"][..], &args].concat());
        assert!(out.status.success() && out.stdout == content, "{}", String::from_utf8_lossy(&out.stderr));
        let requests = requests(&logs);
        let waves = waves(&requests);
        let data = waves.iter().position(|w| w.iter().any(|r| r.contains("/frag/"))).expect("a fragment read");
        (waves[..=data].iter().map(|w| w.join(" | ")).collect::<Vec<_>>(), data)
    };
    // The backup's job found the bucket: this host's next jobs take it as
    // there. The listing of the records and the read of the record a
    // finished backup leaves go together; then the data and the metadata.
    let (seen, before_data) = restore();
    assert_eq!(before_data, 1, "one round trip before the data: {seen:#?}");
    assert!(seen[0].contains("manifest/&") && seen[0].contains("manifest/00000000000000000001"), "{seen:#?}");
    assert!(!seen.concat().contains("max-keys=1"), "no bucket check: {seen:#?}");
    // A small backup of a host that knows the LSU: whether the name is
    // free, the first record, then the data and the metadata together,
    // the complete record, and the superseded one removed with the event.
    for f in std::fs::read_dir(&logs).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let args2 = ["--server", "VastData:sim", "--lsu", "pool1", "--image", "far2", "--date", "1"];
    ok(&vastost_stdin(&env, &[&["backup"][..], &args2].concat(), Some(&content[..4096])));
    let seen: Vec<String> = waves(&requests(&logs)).iter().map(|w| w.join(" | ")).collect();
    assert_eq!(seen.len(), 5, "five round trips: {seen:#?}");
    assert!(seen[2].contains("/meta") && seen[2].contains("/frag/"), "{seen:#?}");
    // Without what the host remembers, the bucket is checked first.
    std::fs::remove_dir_all(&state).unwrap();
    let (seen, before_data) = restore();
    assert_eq!(before_data, 2, "the bucket, then the record: {seen:#?}");
    assert!(seen[0].contains("max-keys=1"), "{seen:#?}");
    sim.kill().unwrap();
    sim.wait().unwrap();
}

#[test]
fn a_bucket_deleted_after_the_host_saw_it_is_no_such_lsu() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, _) = start_sim(dir.path(), &["--bucket", "pool1", "--in-memory"]);
    let creds = support::write_sim_credentials(dir.path());
    let aws = |args: &[&str]| support::aws(&s3, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY, args);
    aws(&["create-bucket", "--bucket", "gone"]);
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin]\nstate_dir = \"{}\"\n[server.\"sim\"]\ndata_path = \"s3\"\nendpoint = \"{s3}\"\n\
             credentials_file = \"{}\"\nlsus = [\"pool1\", \"gone\"]\n",
            dir.path().join("state").display(),
            creds.display()
        ),
    )
    .unwrap();
    let env = Env { dir, config };
    let run = |args: &[&str], stdin: Option<&[u8]>| {
        let lsu = ["--server", "VastData:sim", "--lsu", "gone"];
        vastost_stdin(&env, &[args, &lsu[..]].concat(), stdin)
    };
    ok(&run(&["backup", "--image", "x", "--date", "1"], Some(&support::bytes(3, 5000))));
    // The host now takes the bucket as there; someone deletes it.
    let listed = aws(&["list-objects-v2", "--bucket", "gone", "--query", "Contents[].Key", "--output", "text"]);
    for key in listed.split_whitespace() {
        aws(&["delete-object", "--bucket", "gone", "--key", key]);
    }
    aws(&["delete-bucket", "--bucket", "gone"]);
    let jobs: [(&[&str], Option<&[u8]>); 3] = [
        (&["restore", "--image", "x", "--date", "1"], None),
        (&["backup", "--image", "y", "--date", "1"], Some(b"data")),
        (&["images"], None),
    ];
    for (args, stdin) in jobs {
        let out = run(args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("STS_ENOLSU"), "{args:?}: {err}");
    }
    sim.kill().unwrap();
    sim.wait().unwrap();
}
