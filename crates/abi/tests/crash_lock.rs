//! A lock killed at any point (SIGKILL of the process in the middle of
//! `stspi_lock_image`, over S3 against an Object Lock bucket): afterwards
//! no image is shown locked unless its commit record and every fragment
//! are locked on the storage, and locking again completes the lock.

use support::child::{KillAt, say};
use vastost_testkit as support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vastost_ost::*;

const LSU: &str = "crash-lock";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The child: locks one image until `CRASH_UNTIL`, unless killed first.
#[test]
fn child() {
    let Ok(name) = std::env::var("CRASH_IMAGE") else { return };
    let plugin = support::load();
    plugin.init(Some(Path::new(&std::env::var("CRASH_CONFIG").unwrap()))).unwrap();
    let until: u64 = std::env::var("CRASH_UNTIL").unwrap().parse().unwrap();
    let s = plugin.open_server("VastData:worm", None).unwrap();
    say("locking");
    let started = std::time::Instant::now();
    s.lock_image(LSU, &name, "1", until).unwrap();
    say(&format!("locked {}", started.elapsed().as_micros()));
}

#[test]
fn a_lock_killed_at_any_point_never_shows_a_lock_the_storage_does_not_hold() {
    let dir = tempfile::tempdir().unwrap();
    let sim = vastost_sim::Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket(LSU).unwrap();
    let config = support::write_worm_config(dir.path(), &sim.s3_endpoint(), LSU);
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    let s = plugin.open_server("VastData:worm", None).unwrap();
    let data = support::bytes(3, 2 << 20);
    let backup = |name: &str| support::backup(&s, LSU, name, &data, 256 << 10).unwrap();

    let run = |name: &str, until: u64, at: KillAt| {
        let until = until.to_string();
        let env = [("CRASH_IMAGE", name), ("CRASH_CONFIG", config.to_str().unwrap()), ("CRASH_UNTIL", &until)];
        support::child::run_and_kill("child", &env, at)
    };
    // How long a whole lock takes in a child, to spread the kills over it.
    backup("timing");
    let said = run("timing", now() + 600, KillAt { lines: 2, delay: Duration::ZERO });
    let micros = said.iter().find_map(|l| l.strip_prefix("locked ")).expect("the timing lock completes");
    let whole = Duration::from_micros(micros.parse().unwrap());

    // Locked on the storage: the record that rules and every fragment.
    let held_until = |key: &str| sim.retention(LSU, key).map(|(_, until)| until);
    let check = |name: &str, until: u64| -> bool {
        let info = s.image_info(LSU, name, "1").unwrap();
        if info.flags & STS_II_WORM_LOCKED == 0 {
            return false;
        }
        let at_least = UNIX_EPOCH + Duration::from_secs(until);
        let records = sim.object_keys(LSU, &format!("images/{name}/1/manifest/"));
        let record = records.last().unwrap();
        assert!(held_until(record).is_some_and(|t| t >= at_least), "{name}: shown locked, record {record} is not");
        for frag in sim.object_keys(LSU, &format!("images/{name}/1/frag/")) {
            assert!(held_until(&frag).is_some_and(|t| t >= at_least), "{name}: shown locked, {frag} is not");
        }
        true
    };

    // Kills from the start of the lock on, each a little later, until at
    // least 20 landed and some came before the claim and some after (a
    // loaded machine locks slower than the timing said).
    let (mut kills, mut shown_locked) = (0u32, 0u32);
    while kills < 20 || shown_locked == 0 || shown_locked == kills {
        assert!(kills < 80, "{kills} kills, {shown_locked} after the claim: the kills never covered both sides");
        let name = format!("img{kills}");
        backup(&name);
        let until = now() + 600;
        let delay = whole.mul_f64(f64::from(kills) / 16.0);
        run(&name, until, KillAt { lines: 1, delay });
        kills += 1;
        if check(&name, until) {
            shown_locked += 1;
        }
        // Locking again completes what the kill cut short.
        s.lock_image(LSU, &name, "1", until).unwrap();
        assert!(check(&name, until), "{name}: not locked after the second lock");
        assert!(support::restore(&s, LSU, &name, 256 << 10).unwrap() == data, "{name}");
    }
    eprintln!("a whole lock took {whole:?}; {shown_locked} of {kills} killed locks had already claimed their lock");
    drop(s);
    plugin.terminate().unwrap();
}
