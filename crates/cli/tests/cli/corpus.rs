//! The compatibility corpus (`tests/corpus/format-N/`): LSUs that released
//! plugins wrote, over NFS and S3, opened by this build as a site that
//! upgraded would: every image listed as it was left, every complete one
//! restored bit for bit (against the length and CRC32C of the bytes given
//! to its backup, recorded when the corpus was made), the LSU verified,
//! then reclaimed, and everything live restored again. See the corpus's
//! README for how it was made.

use std::collections::BTreeMap;

use super::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// What `expected.json` says of one image.
#[derive(Debug, serde::Deserialize)]
struct Expected {
    /// `complete`, `pending` or `gone`.
    state: String,
    length: Option<u64>,
    crc32c: Option<u32>,
    #[serde(default)]
    locked: bool,
}

#[derive(Debug, serde::Deserialize)]
struct Corpus {
    format: u32,
    commit: String,
    nfs: BTreeMap<String, Expected>,
    s3: BTreeMap<String, Expected>,
    #[serde(default)]
    s3_worm: BTreeMap<String, Expected>,
}

/// Copies folder `from` into `to` (made), files and folders alike.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// `vastost` on `server`/`lsu` of the configuration `config`.
fn run(config: &Path, server: &str, lsu: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(args)
        .env("VASTOST_CONFIG", config)
        .env("VASTOST_PLUGIN", support::plugin_path())
        .env("VASTOST_SERVER", format!("VastData:{server}"))
        .env("VASTOST_LSU", lsu)
        .output()
        .unwrap()
}

/// The listing of an LSU: basename to its line.
fn listing(config: &Path, server: &str, lsu: &str) -> BTreeMap<String, String> {
    ok(&run(config, server, lsu, &["images"]))
        .lines()
        .skip(1)
        .filter_map(|l| Some((l.split_whitespace().next()?.to_string(), l.to_string())))
        .collect()
}

/// Restores every complete image and checks its content.
fn restore_all(
    config: &Path,
    server: &str,
    lsu: &str,
    images: &BTreeMap<String, Expected>,
    scratch: &Path,
    what: &str,
) {
    for (name, e) in images.iter().filter(|(_, e)| e.state == "complete") {
        let out = scratch.join(format!("{server}-{name}.restored"));
        let done = run(config, server, lsu, &["restore", "--image", name, "--date", "1", "--output", path(&out)]);
        ok(&done);
        let said = String::from_utf8_lossy(&done.stderr);
        assert!(!said.contains("lost"), "{what}: {name}: {said}");
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(Some(bytes.len() as u64), e.length, "{what}: {name}: length");
        assert_eq!(Some(crc32c::crc32c(&bytes)), e.crc32c, "{what}: {name}: content");
        std::fs::remove_file(&out).unwrap();
    }
}

/// Everything a site does with an LSU of the corpus after an upgrade.
fn check_lsu(config: &Path, server: &str, lsu: &str, images: &BTreeMap<String, Expected>, scratch: &Path, what: &str) {
    let listed = listing(config, server, lsu);
    for (name, e) in images {
        let line = listed.get(name);
        match e.state.as_str() {
            "complete" => assert!(line.is_some_and(|l| l.contains("CREATED")), "{what}: {name}: {listed:#?}"),
            "pending" => assert!(line.is_some_and(|l| l.contains("PENDING")), "{what}: {name}: {listed:#?}"),
            _ => assert!(line.is_none(), "{what}: {name} was deleted: {listed:#?}"),
        }
        if e.locked {
            assert!(line.is_some_and(|l| l.contains("WORM_LOCKED")), "{what}: {name}: {listed:#?}");
        }
    }
    assert!(listed.values().all(|l| !l.contains("DAMAGED") && !l.contains("NEWER")), "{what}: {listed:#?}");
    assert_eq!(listed.len(), images.values().filter(|e| e.state != "gone").count(), "{what}: {listed:#?}");
    restore_all(config, server, lsu, images, scratch, what);
    ok(&run(config, server, lsu, &["verify-lsu"]));

    // Reclaim everything it may at once: what crashes and deletes left.
    ok(&run(config, server, lsu, &["reclaim", "--grace", "0", "--older-than", "0s"]));
    restore_all(config, server, lsu, images, scratch, &format!("{what}, after reclaim"));
    let after = listing(config, server, lsu);
    for name in images.iter().filter(|(_, e)| e.state == "complete").map(|(n, _)| n) {
        assert_eq!(after.get(name), listed.get(name), "{what}: {name} changed in reclaim");
    }
    // A checkpointed image keeps what it checkpointed (abandoned, not lost).
    if let Some(line) = after.get("checkpointed") {
        assert_eq!(Some(line), listed.get("checkpointed"), "{what}");
    }
    for name in images.iter().filter(|(_, e)| e.locked).map(|(n, _)| n) {
        let err = fails(&run(config, server, lsu, &["delete", "--image", name, "--date", "1"]), 1);
        assert!(err.contains("STS_EWORM_LOCKED"), "{what}: {name}: {err}");
    }
}

#[test]
fn every_released_format_is_read_restored_verified_and_reclaimed() {
    let mut formats: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("format-")))
        .collect();
    formats.sort();
    assert!(formats.iter().any(|p| p.ends_with("format-1")), "the corpus of format 1 (0aa5641) is kept: {formats:?}");
    for dir in formats {
        let corpus: Corpus = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let what = format!("format {} ({})", corpus.format, corpus.commit);
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("nfs");
        copy_tree(&dir.join("nfs"), &data);
        let sim_data = scratch.path().join("sim");
        copy_tree(&dir.join("s3"), &sim_data);
        let (mut sim, endpoint, _) = start_sim(scratch.path(), &[]);
        let creds = support::write_sim_credentials(scratch.path());
        let config = scratch.path().join("vastost.toml");
        std::fs::write(
            &config,
            format!(
                "[plugin]\nstate_dir = \"\"\nlog_file = \"{log}\"\nlog_level = \"debug\"\n\n\
                 [server.\"nfs\"]\ndata_path = \"nfs\"\ndirectory = \"{data}\"\n\n\
                 [server.\"s3\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{creds}\"\n\
                 lsus = [\"lsu1\"]\n\n\
                 [server.\"worm\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{creds}\"\n\
                 lsus = [\"worm1\"]\nworm_mode = \"governance\"\nworm_min_secs = 60\nworm_max_secs = 4000000000\n",
                log = scratch.path().join("plugin.log").display(),
                data = data.display(),
                creds = creds.display(),
            ),
        )
        .unwrap();
        check_lsu(&config, "nfs", "lsu1", &corpus.nfs, scratch.path(), &format!("{what}, NFS"));
        check_lsu(&config, "s3", "lsu1", &corpus.s3, scratch.path(), &format!("{what}, S3"));
        if !corpus.s3_worm.is_empty() {
            check_lsu(&config, "worm", "worm1", &corpus.s3_worm, scratch.path(), &format!("{what}, S3 WORM"));
        }
        sim.kill().unwrap();
        sim.wait().unwrap();
    }
}
