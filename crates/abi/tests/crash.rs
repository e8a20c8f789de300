//! Crash consistency: a process drives the plugin (backup with
//! checkpoints, copy, delete) and is killed with SIGKILL at random points.
//! After each kill, another plugin instance checks that no image looks
//! complete that is not fully stored and readable, that a checkpointed
//! backup resumes and restores bit for bit, and that the reclaimer removes
//! what the killed session left. Over NFS and over S3 (the simulator lives
//! in this process, the killed one only talks to it).

use support::child::{KillAt, say};
use vastost_testkit as support;

use std::path::{Path, PathBuf};

use vastost_loader::{Plugin, Server};
use vastost_ost::*;

const FRAG: usize = 64 << 10;
const IMAGE: usize = 4 << 20;
const CHECKPOINT: usize = 512 << 10;

fn config(dir: &Path, s3: Option<(&str, &Path)>) -> PathBuf {
    let mut text = format!(
        "[plugin]\nmemory_budget = \"64MiB\"\n\n[server.\"nfs\"]\ndirectory = \"{}\"\nlsus = [\"crash\", \"crash2\"]\n\
         fragment_size = \"64KiB\"\nread_ahead = \"256KiB\"\n",
        dir.join("nfs").display()
    );
    if let Some((endpoint, creds)) = s3 {
        text += &format!(
            "\n[server.\"s3\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{}\"\n\
             lsus = [\"crash\"]\nfragment_size = \"64KiB\"\nread_ahead = \"256KiB\"\n",
            creds.display()
        );
    }
    std::fs::create_dir_all(dir.join("nfs")).unwrap();
    let path = dir.join("vastost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The child: runs one scenario until done or killed.
#[test]
fn child() {
    let Ok(scenario) = std::env::var("CRASH_SCENARIO") else { return };
    let plugin = support::load();
    plugin.init(Some(Path::new(&std::env::var("CRASH_CONFIG").unwrap()))).unwrap();
    let server = std::env::var("CRASH_SERVER").unwrap();
    let name = std::env::var("CRASH_IMAGE").unwrap();
    let s = plugin.open_server(&format!("VastData:{server}"), None).unwrap();
    match scenario.as_str() {
        "backup" => {
            let data = support::bytes(1, IMAGE);
            let mut img = s.create_image("crash", &name, "1").unwrap();
            say("created");
            for (i, chunk) in data.chunks(FRAG).enumerate() {
                img.write(chunk, (i * FRAG) as u64).unwrap();
                let end = (i + 1) * FRAG;
                say(&format!("wrote {end}"));
                if end.is_multiple_of(CHECKPOINT) && end < IMAGE {
                    img.close(false).unwrap();
                    say(&format!("checkpoint {end}"));
                    img = s.open_image("crash", &name, "1", STS_O_WRITE).unwrap();
                }
            }
            img.close(true).unwrap();
            say("complete");
        }
        "copy" => {
            let target = plugin.open_server("VastData:nfs", None).unwrap();
            say("copying");
            s.copy_image("crash", (&name, "1"), &target, "crash2", (&name, "1")).unwrap();
            say("copied");
        }
        "delete" => {
            for k in 0..5 {
                s.delete_image("crash", &format!("{name}-{k}"), "1").unwrap();
                say(&format!("deleted {k}"));
            }
            s.delete_image("crash", &format!("{name}-synth"), "1").unwrap();
            say("deleted synth");
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// Runs a scenario in a child process (this test program's `child` test)
/// and kills it at `at`. Returns the lines it printed.
fn run_and_kill(config: &Path, scenario: &str, server: &str, image: &str, at: KillAt) -> Vec<String> {
    let config = config.display().to_string();
    let env =
        [("CRASH_SCENARIO", scenario), ("CRASH_CONFIG", &config), ("CRASH_SERVER", server), ("CRASH_IMAGE", image)];
    support::child::run_and_kill("child", &env, at)
}

fn restore(s: &Server<'_>, lsu: &str, name: &str) -> Vec<u8> {
    support::restore(s, lsu, name, 256 << 10).unwrap()
}

struct Tally {
    kills: usize,
    verified: usize,
    resumed: usize,
}

fn backups(
    plugin: &Plugin,
    config: &Path,
    server: &str,
    stored: &support::Stored<'_>,
    rng: &mut fastrand::Rng,
    t: &mut Tally,
) {
    let s = plugin.open_server(&format!("VastData:{server}"), None).unwrap();
    let data = support::bytes(1, IMAGE);
    for round in 0..8 {
        let name = format!("backup{round}");
        let lines = run_and_kill(config, "backup", server, &name, KillAt::random(rng, IMAGE / FRAG + 8, 15));
        t.kills += 1;
        let last_checkpoint =
            lines.iter().filter_map(|l| l.strip_prefix("checkpoint ")?.parse::<u64>().ok()).max().unwrap_or(0);
        // The listing agrees with the lookup: same state and size, never
        // damage, whatever point of a commit the kill hit.
        let listed: Vec<_> = s.images("crash").unwrap().into_iter().filter(|i| i.basename == name).collect();
        assert!(listed.iter().all(|i| i.flags & VASTOST_II_DAMAGED == 0), "{server} round {round}: {listed:?}");
        let info = match s.image_info("crash", &name, "1") {
            Ok(info) => info,
            Err(_) => {
                assert!(!lines.iter().any(|l| l == "created"), "{server} round {round}: created, then lost");
                assert!(listed.is_empty(), "{server} round {round}: listed but not found: {listed:?}");
                continue;
            }
        };
        assert_eq!(
            listed.iter().map(|i| (i.flags, i.size)).collect::<Vec<_>>(),
            [(info.flags, info.size)],
            "{server} round {round}: the listing and the lookup disagree"
        );
        if info.flags & STS_II_IMAGE_CREATED != 0 {
            // Complete: every byte is there.
            assert_eq!(info.size, IMAGE as u64);
            assert!(restore(&s, "crash", &name) == data, "{server} round {round}: complete but different");
        } else {
            assert_eq!(info.flags, STS_II_IMAGE_PENDING, "{server} round {round}");
            assert!(!lines.iter().any(|l| l == "complete"), "{server} round {round}: acknowledged, not complete");
            // What was checkpointed is there, and only whole checkpoints.
            assert!(info.size >= last_checkpoint, "{server} round {round}: {} < {last_checkpoint}", info.size);
            assert!(info.size.is_multiple_of(CHECKPOINT as u64), "{server} round {round}: size {}", info.size);
            // The backup resumes from its checkpoint.
            let mut img = s.open_image("crash", &name, "1", STS_O_WRITE).unwrap();
            img.write(&data[info.size as usize..], info.size).unwrap();
            img.close(true).unwrap();
            assert!(restore(&s, "crash", &name) == data, "{server} round {round}: resumed backup differs");
            t.resumed += 1;
        }
        t.verified += 1;
    }
    // What the killed sessions left is reclaimed: only the fragments the
    // complete images map remain.
    s.reclaim(Some("crash"), Some(0), None).unwrap();
    let images = s.images("crash").unwrap();
    let expected: usize = images.iter().filter(|i| i.basename.starts_with("backup")).count() * (IMAGE / FRAG);
    assert_eq!(stored.fragments("crash", ""), expected, "{server}: orphans left after reclaim");
    for i in images {
        s.delete_image("crash", &i.basename, &i.date).unwrap();
    }
    assert_eq!(stored.fragments("crash", ""), 0);
}

/// One test: a plugin instance serves the whole process (a second `init`
/// keeps the first configuration), so the scenarios share it, in turn.
#[test]
fn killed_sessions_leave_whole_images_or_none_and_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let sim = vastost_sim::Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("crash").unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let endpoint = sim.s3_endpoint();
    let config = config(dir.path(), Some((&endpoint, &creds)));
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    let mut t = Tally { kills: 0, verified: 0, resumed: 0 };
    backups(&plugin, &config, "nfs", &support::Stored::Folders(&dir.path().join("nfs")), &mut rng, &mut t);
    backups(&plugin, &config, "s3", &support::Stored::Buckets(&sim), &mut rng, &mut t);
    eprintln!(
        "backups killed: {}, images verified after: {}, resumed from a checkpoint: {}",
        t.kills, t.verified, t.resumed
    );
    assert!(t.resumed >= 2, "the kills should hit some checkpointed backups");
    copies_and_deletes(&plugin, &config, dir.path());
}

fn copies_and_deletes(plugin: &Plugin, config: &Path, dir: &Path) {
    let s = plugin.open_server("VastData:nfs", None).unwrap();
    let data = support::bytes(2, 2 << 20);
    let mut rng = fastrand::Rng::with_seed(9);
    let (mut kills, mut verified) = (0, 0);
    let write = |name: &str| {
        let mut img = s.create_image("crash", name, "1").unwrap();
        img.write(&data, 0).unwrap();
        img.close(true).unwrap();
    };
    // Copies to another LSU are killed at random points: the target is
    // absent, incomplete, or complete and identical.
    for round in 0..6 {
        let name = format!("copy{round}");
        write(&name);
        let lines = run_and_kill(config, "copy", "nfs", &name, KillAt::random(&mut rng, 1, 60));
        kills += 1;
        match s.image_info("crash2", &name, "1") {
            Ok(i) if i.flags & STS_II_IMAGE_CREATED != 0 => {
                assert!(restore(&s, "crash2", &name) == data, "copy {round}: complete but different");
                s.delete_image("crash2", &name, "1").unwrap();
            }
            Ok(_) => {
                assert!(!lines.iter().any(|l| l == "copied"), "copy {round}: acknowledged, not complete");
                s.delete_image("crash2", &name, "1").unwrap();
            }
            Err(_) => assert!(!lines.iter().any(|l| l == "copied"), "copy {round}: acknowledged, then lost"),
        }
        verified += 1;
        s.delete_image("crash", &name, "1").unwrap();
    }
    s.reclaim(None, Some(0), None).unwrap();
    assert_eq!(support::fragment_files(&dir.join("nfs")), 0, "copies left orphans");

    // Deletes are killed at random points: each image is whole or gone,
    // and a synthetic image keeps what it references.
    for round in 0..6 {
        let name = format!("del{round}");
        for k in 0..5 {
            write(&format!("{name}-{k}"));
        }
        {
            let src = s.open_image("crash", &format!("{name}-2"), "1", STS_O_READ).unwrap();
            let synth = s.create_image("crash", &format!("{name}-synth"), "1").unwrap();
            src.include_into(&synth, 0, 0, data.len() as u64).unwrap();
            synth.close(true).unwrap();
        }
        run_and_kill(config, "delete", "nfs", &name, KillAt::random(&mut rng, 6, 10));
        kills += 1;
        for k in ["0", "1", "2", "3", "4", "synth"] {
            let image = format!("{name}-{k}");
            if s.image_info("crash", &image, "1").is_ok() {
                assert!(restore(&s, "crash", &image) == data, "delete {round}: {image} visible but damaged");
                s.delete_image("crash", &image, "1").unwrap();
            }
            verified += 1;
        }
        s.reclaim(None, Some(0), None).unwrap();
        assert_eq!(support::fragment_files(&dir.join("nfs")), 0, "delete {round}: space leaked");
    }
    eprintln!("copies and deletes killed: {kills}, images verified after: {verified}");
}
