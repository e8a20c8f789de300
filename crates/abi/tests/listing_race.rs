//! Image lists while other media servers change the LSU: two other
//! processes create and delete images while this one lists the LSU again
//! and again, over NFS and over S3 (the simulator lives in this process).

use vastost_testkit as support;

use std::path::Path;
use std::time::Duration;

use support::child::{KillAt, run_and_kill, say};
use vastost_ost::*;

fn config(dir: &Path, endpoint: &str, creds: &Path) -> std::path::PathBuf {
    let text = format!(
        "[plugin]\nmemory_budget = \"64MiB\"\nlog_file = \"{}\"\n\n[server.\"nfs\"]\ndirectory = \"{}\"\nlsus = [\"race\"]\n\n\
         [server.\"s3\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{}\"\nlsus = [\"race\"]\n",
        dir.join("plugin.log").display(),
        dir.join("nfs").display(),
        creds.display()
    );
    std::fs::create_dir_all(dir.join("nfs").join("race")).unwrap();
    let path = dir.join("vastost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The child: creates and deletes images of its own until killed.
#[test]
fn churn() {
    let Ok(config) = std::env::var("RACE_CONFIG") else { return };
    let plugin = support::load();
    plugin.init(Some(Path::new(&config))).unwrap();
    let server = std::env::var("RACE_SERVER").unwrap();
    let prefix = std::env::var("RACE_PREFIX").unwrap();
    let s = plugin.open_server(&format!("VastData:{server}"), None).unwrap();
    for k in 0u32.. {
        let image = format!("{prefix}-{k:05}");
        let mut img = s.create_image("race", &image, "1").unwrap();
        img.write(&[k as u8; 4096], 0).unwrap();
        img.close(true).unwrap();
        if k % 2 == 1 {
            s.delete_image("race", &format!("{prefix}-{:05}", k - 1), "1").unwrap();
        }
        say(&format!("churned {k}"));
    }
}

/// Every listing ends without an error, shows no damage and no image
/// twice, and each image nobody touches is in it.
#[test]
fn listings_racing_creates_and_deletes_of_two_other_processes_stay_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sim = vastost_sim::Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("race").unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let config = config(dir.path(), &sim.s3_endpoint(), &creds);
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    for server in ["nfs", "s3"] {
        let s = plugin.open_server(&format!("VastData:{server}"), None).unwrap();
        // Stable images sort among the churned ones ("m..." between "a" and "z").
        let stable: Vec<String> = (0..40).map(|i| format!("m{i:03}")).collect();
        for name in &stable {
            let mut img = s.create_image("race", name, "1").unwrap();
            img.write(&[7; 512], 0).unwrap();
            img.close(true).unwrap();
        }
        let children: Vec<_> = ["a", "z"]
            .into_iter()
            .map(|prefix| {
                let config = config.display().to_string();
                std::thread::spawn(move || {
                    let env = [("RACE_CONFIG", config.as_str()), ("RACE_SERVER", server), ("RACE_PREFIX", prefix)];
                    run_and_kill("churn", &env, KillAt { lines: 150, delay: Duration::ZERO })
                })
            })
            .collect();
        let mut listings = 0;
        while !children.iter().all(|c| c.is_finished()) || listings < 3 {
            let listed = s.images("race").unwrap_or_else(|e| panic!("{server}: a listing failed: {e}"));
            if listed.iter().any(|i| i.flags & VASTOST_II_DAMAGED != 0) {
                // The log rolls daily: plugin.log.<date>.
                let log: String = std::fs::read_dir(dir.path())
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("plugin.log"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect();
                let why: Vec<&str> = log.lines().filter(|l| l.contains("damaged image listed")).collect();
                panic!("{server}: damage listed: {why:#?}");
            }
            let mut names: Vec<&str> = listed.iter().map(|i| i.basename.as_str()).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(names.len(), before, "{server}: an image listed twice");
            for name in &stable {
                assert!(names.binary_search(&name.as_str()).is_ok(), "{server}: {name} missing from a listing");
            }
            listings += 1;
        }
        let churned: usize = children.into_iter().map(|c| c.join().unwrap().len()).sum();
        eprintln!("{server}: {listings} listings while two processes churned {churned} images");
        assert!(churned >= 200, "{server}: the other processes barely ran ({churned})");
        // What they left (killed at any point) lists without damage too.
        for image in s.images("race").unwrap() {
            assert_eq!(image.flags & VASTOST_II_DAMAGED, 0, "{server}: {image:?}");
        }
    }
}
