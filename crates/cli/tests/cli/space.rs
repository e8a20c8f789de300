//! Copies, synthetics, events, deletes and reclaim across processes.

use super::*;

#[test]
fn copies_synthetics_events_and_reclaim_with_deletes_from_two_processes() {
    let env = env();
    let lsu_dir = env.dir.path().join("data/lsu1");
    let full = support::bytes(31, 4 << 20);
    let inc = support::bytes(32, 1 << 20);
    let (f, i) = (env.dir.path().join("full"), env.dir.path().join("inc"));
    std::fs::write(&f, &full).unwrap();
    std::fs::write(&i, &inc).unwrap();
    ok(&vastost(&env, &["backup", "-i", "full", "--date", "1", "--input", path(&f)]));
    ok(&vastost(&env, &["backup", "-i", "inc", "--date", "2", "--input", path(&i)]));
    let stored = support::fragment_files(&lsu_dir);
    // A synthetic full: the full with its second MiB replaced by the incremental.
    let out = vastost(
        &env,
        &[
            "synth",
            "-i",
            "synth",
            "--date",
            "3",
            "--from",
            "full:0:1MiB",
            "--from",
            "inc:0:rest",
            "--from",
            "full:2MiB:rest",
        ],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no data copied"));
    ok(&vastost(&env, &["copy", "-i", "full", "--to-image", "full-copy"]));
    assert_eq!(support::fragment_files(&lsu_dir), stored, "neither stored any data");
    let mut want = full.clone();
    want[1 << 20..2 << 20].copy_from_slice(&inc);
    let back = env.dir.path().join("back");
    ok(&vastost(&env, &["restore", "-i", "synth", "--output", path(&back)]));
    assert!(std::fs::read(&back).unwrap() == want, "the synthetic restores exactly");
    ok(&vastost(&env, &["verify", "-i", "full-copy", "--against", path(&f)]));
    // Two media servers delete at once: the sources on one, the synthetic
    // and the copy on the other.
    let deletes = |names: &'static [&'static str]| {
        let (config, plugin) = (env.config.clone(), support::plugin_path().to_path_buf());
        std::thread::spawn(move || {
            names.iter().all(|n| {
                Command::new(env!("CARGO_BIN_EXE_vastost"))
                    .args(["delete", "-s", "VastData:small", "-l", "lsu1", "-i", n])
                    .env("VASTOST_CONFIG", &config)
                    .env("VASTOST_PLUGIN", &plugin)
                    .output()
                    .unwrap()
                    .status
                    .success()
            })
        })
    };
    let (a, b) = (deletes(&["full", "inc"]), deletes(&["synth", "full-copy"]));
    assert!(a.join().unwrap() && b.join().unwrap());
    let report = ok(&vastost(&env, &["reclaim", "--grace", "0"]));
    assert!(report.contains("bytes freed"), "{report}");
    assert_eq!(support::fragment_files(&lsu_dir), 0, "no space leaked");
    let images = vastost(&env, &["images"]);
    assert!(String::from_utf8_lossy(&images.stderr).contains("0 image(s)"));
    // Everything that happened is in the events, in order.
    let events = ok(&vastost(&env, &["events", "--delete"]));
    let kinds: Vec<&str> = events.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "created").count(), 4, "{events}");
    assert_eq!(kinds.iter().filter(|k| **k == "copied").count(), 1, "{events}");
    assert_eq!(kinds.iter().filter(|k| **k == "deleted").count(), 4, "{events}");
    assert_eq!(kinds[0], "created");
    let again = vastost(&env, &["events"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 event(s)"));
    // Bad ranges are refused, and leave no image behind.
    ok(&vastost(&env, &["backup", "-i", "small", "--date", "4", "--input", path(&i)]));
    fails(&vastost(&env, &["synth", "-i", "x", "--from", "nothing:0:1MiB"]), 1);
    let err = fails(&vastost(&env, &["synth", "-i", "x", "--date", "5", "--from", "small:0:2MiB"]), 1);
    assert!(err.contains("cannot include"), "{err}");
    let images = vastost(&env, &["images"]);
    assert!(String::from_utf8_lossy(&images.stderr).contains("1 image(s)"), "{images:?}");
}

#[test]
fn reclaim_abandons_what_killed_backups_left_once_old_enough() {
    let env = env();
    let frags = |name: &str| support::fragment_files(&env.dir.path().join("data/lsu1/images").join(name));

    // A backup killed with SIGKILL in the middle: no checkpoint, data stored.
    let mut child = crate::piped_backup(&env, "killed");
    let mut input = child.stdin.take().unwrap();
    let chunk = support::bytes(51, 1 << 20);
    let started = std::time::Instant::now();
    while frags("killed") < 8 {
        input.write_all(&chunk).unwrap();
        assert!(started.elapsed().as_secs() < 60, "the backup stored nothing");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(input);
    let left = frags("killed");

    // A backup with a checkpoint, then more data, then its media server gone.
    {
        let plugin = support::load();
        plugin.init(Some(&env.config)).unwrap();
        let s = plugin.open_server("VastData:small", None).unwrap();
        let mut img = s.create_image("lsu1", "checkpointed", "1").unwrap();
        img.write(&support::bytes(52, 256 << 10), 0).unwrap();
        img.flush().unwrap();
        img.write(&support::bytes(53, 256 << 10), 256 << 10).unwrap();
        std::mem::forget(img);
        drop(s);
        plugin.terminate().unwrap();
    }
    assert_eq!(frags("checkpointed"), 8);

    // Young: nothing is touched, whatever the grace.
    let report = ok(&vastost(&env, &["reclaim", "--grace", "0"]));
    assert!(report.contains("images abandoned 0"), "{report}");
    assert_eq!((frags("killed"), frags("checkpointed")), (left, 8));

    // Older than the abandon age: the killed backup goes whole, the
    // checkpointed one keeps its checkpoint and can be resumed.
    let report = ok(&vastost(&env, &["reclaim", "--grace", "0", "--older-than", "0s"]));
    assert!(report.contains("images abandoned 2"), "{report}");
    assert!(report.contains(&format!("fragments freed  {}", left + 4)), "{report}");
    assert_eq!((frags("killed"), frags("checkpointed")), (0, 4));
    let listing = ok(&vastost(&env, &["images"]));
    assert!(!listing.contains("killed"), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("checkpointed") && l.contains("PENDING")), "{listing}");
    let info = ok(&vastost(&env, &["image-info", "--image", "checkpointed"]));
    assert!(info.contains(&format!("({} bytes)", 256 << 10)), "the checkpoint stands: {info}");
    // The name of the abandoned image is free again.
    ok(&vastost_stdin(&env, &["backup", "--image", "killed", "--date", "1"], Some(b"again")));

    // A writer still running in another process when its image is
    // abandoned fails at its next commit: it never maps freed data.
    let plugin = support::load();
    plugin.init(Some(&env.config)).unwrap();
    let s = plugin.open_server("VastData:small", None).unwrap();
    let mut img = s.create_image("lsu1", "slow", "1").unwrap();
    img.write(&support::bytes(54, 128 << 10), 0).unwrap();
    img.flush().unwrap();
    img.write(&support::bytes(55, 128 << 10), 128 << 10).unwrap();
    ok(&vastost(&env, &["reclaim", "--grace", "0", "--older-than", "0s"]));
    let err = img.close(true).unwrap_err();
    assert_eq!(err.code(), Some(vastost_ost::sts_status::STS_EBUSY), "{err}");
    let info = s.image_info("lsu1", "slow", "1").unwrap();
    assert_eq!((info.size, info.flags & vastost_ost::STS_II_IMAGE_PENDING), (128 << 10, 1));
    drop(s);
    plugin.terminate().unwrap();
}
