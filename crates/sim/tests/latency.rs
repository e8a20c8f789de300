//! A simulator started a network away answers each request a round trip
//! later, and each new connection costs one more.

use std::time::{Duration, Instant};

use vastost_sim::{SimOptions, Simulator};

#[test]
fn every_request_and_connection_pays_the_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough that a loaded machine's scheduling noise does not blur it.
    let latency = Duration::from_millis(100);
    let options = SimOptions { latency, ..SimOptions::default() };
    let sim = Simulator::start_with_options(dir.path(), "127.0.0.1:0".parse().unwrap(), options).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let timed = |url: String| {
        let started = Instant::now();
        let status = rt.block_on(async { http.get(url).send().await.unwrap().status().as_u16() });
        (status, started.elapsed())
    };
    // S3 (an unsigned request is refused, a round trip later): the first
    // on a new connection, then one reusing it.
    let (status, first) = timed(format!("{}/bucket", sim.s3_endpoint()));
    assert_eq!(status, 403);
    assert!(first >= 2 * latency, "connection and request: {first:?}");
    let (_, again) = timed(format!("{}/bucket", sim.s3_endpoint()));
    assert!(again >= latency && again < 2 * latency, "a request: {again:?}");
    // VMS too.
    let (_, vms) = timed(format!("{}/api/clusters/", sim.vms_endpoint()));
    assert!(vms >= latency, "{vms:?}");
    // Requests in flight together pay it once.
    let started = Instant::now();
    rt.block_on(async {
        let gets = (0..8).map(|_| http.get(format!("{}/bucket", sim.s3_endpoint())).send());
        for r in futures_util::future::join_all(gets).await {
            assert_eq!(r.unwrap().status().as_u16(), 403);
        }
    });
    // In sequence they would take 8 round trips and more.
    assert!(started.elapsed() < 4 * latency, "8 requests at once took {:?}", started.elapsed());
}
