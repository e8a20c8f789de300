//! What the test suites share: builds the plugin libraries, loads one with
//! dlopen, prepares data folders, configurations and credentials, makes
//! test data, backs up and restores through the loader, and shows what an
//! LSU holds below the plugin ([`Stored`]).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bytesize::ByteSize;
use vastost_config::{Config, LogLevel, S3Keys, ServerConfig, Transfer, WormMode, WormPolicy};
use vastost_loader::Plugin;

pub mod child;

/// The folder of the build profile the tests run in (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// Builds both plugin libraries once per test program (cargo does not
/// build a cdylib for the tests of another crate) and returns the path of
/// `libstspiVastDataMT.so`.
pub fn plugin_path() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_string(),
            Some(other) => other.to_string(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--profile", &profile, "-p", "vastost-plugin-mt", "-p", "vastost-plugin-st"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the plugin libraries failed");
        dir.join("libstspiVastDataMT.so")
    })
}

/// The plugin is one per process: tests of one program that init and
/// terminate it with configurations of their own take turns.
pub fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads the plugin library (without initializing it).
pub fn load() -> Plugin {
    Plugin::load(plugin_path()).expect("the plugin loads")
}

/// A configuration with two servers on `data`: `VastData:small` (64 KiB
/// fragments, to exercise many fragments quickly) and `VastData:big` (the
/// design's defaults).
pub fn write_config(dir: &Path, data: &Path, budget: &str) -> PathBuf {
    let mut config = Config::default();
    config.plugin.memory_budget = budget.parse().expect("a size");
    config.plugin.log_level = LogLevel::Debug;
    config.plugin.log_file = Some(dir.join("logs/plugin.log"));
    let mut small = ServerConfig::nfs(data);
    small.transfer =
        Transfer { fragment_size: ByteSize::kib(64), write_parallelism: 4, read_ahead: Some(ByteSize::kib(256)) };
    config.servers.insert("small".into(), small);
    config.servers.insert("big".into(), ServerConfig::nfs(data));
    write(dir, &config)
}

/// Writes `config` as `vastost.toml` in `dir` and returns its path.
pub fn write(dir: &Path, config: &Config) -> PathBuf {
    config.validate().expect("a valid configuration");
    let path = dir.join("vastost.toml");
    std::fs::write(&path, config.to_toml()).expect("config written");
    path
}

/// Writes an S3 credentials file (mode 600, as the plugin demands) into
/// `dir` and returns its path.
pub fn write_s3_credentials(dir: &Path, access_key: &str, secret_key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("s3-keys.toml");
    let keys = S3Keys { access_key: access_key.into(), secret_key: secret_key.into() };
    std::fs::write(&path, keys.to_toml()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Credentials of the simulator's S3 user.
pub fn write_sim_credentials(dir: &Path) -> PathBuf {
    write_s3_credentials(dir, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)
}

/// A configuration in `dir` with server `VastData:worm` on the simulator's
/// `endpoint`, LSU `lsu` (an Object Lock bucket): compliance locks of 2 s
/// to an hour, 64 KiB fragments, the simulator's keys.
pub fn write_worm_config(dir: &Path, endpoint: &str, lsu: &str) -> PathBuf {
    let mut server = ServerConfig::s3(endpoint, write_sim_credentials(dir));
    server.lsus = vec![lsu.into()];
    server.transfer.fragment_size = ByteSize::kib(64);
    server.worm = Some(WormPolicy { mode: WormMode::Compliance, min_secs: 2, max_secs: 3600, default_secs: None });
    write(dir, &Config { servers: [("worm".into(), server)].into(), ..Config::default() })
}

/// A folder for a fixture that lives as long as its test process: held
/// by a `static`, which is never dropped, a `TempDir` would be left behind
/// by every run (a gigabyte for some suites). It is `<name>-<pid>` under
/// `base` (the test crate's `CARGO_TARGET_TMPDIR`, inside `target/`);
/// those of processes that have ended are removed first.
pub fn process_dir(base: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(base).expect("the fixtures' folder is made");
    for entry in std::fs::read_dir(base).expect("the fixtures' folder is read").flatten() {
        let file = entry.file_name();
        let pid = file.to_str().and_then(|f| f.strip_prefix(name)?.strip_prefix('-')?.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the fixture's folder is made");
    dir
}

/// Runs the AWS CLI (PyPI's awscli, an S3 client nobody here wrote) against
/// `endpoint` with the plugin's own keys, as someone who stole them would;
/// its standard output.
pub fn aws(endpoint: &str, access: &str, secret: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("aws")
        .args(["--endpoint-url", endpoint, "s3api"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", access)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("aws runs (pip install awscli==1.45.11): {e}"));
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic test bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// Data fragment files under `dir`, recursively (files in `frag` folders).
pub fn fragment_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            if p.is_dir() {
                fragment_files(&p)
            } else {
                usize::from(!hidden && p.parent().is_some_and(|d| d.ends_with("frag")))
            }
        })
        .sum()
}

/// What an LSU holds, seen from below the plugin, as a failing disk or a
/// careless administrator sees it: the files of an NFS LSU's folder, or
/// the objects of the simulator's bucket. Paths are relative to the LSU,
/// `/`-separated.
pub enum Stored<'a> {
    /// LSUs are folders of this folder.
    Folders(&'a Path),
    /// LSUs are buckets of this simulator.
    Buckets(&'a vastost_sim::Simulator),
}

impl Stored<'_> {
    /// The names of what `folder` holds directly (no sub-folders), sorted.
    pub fn names(&self, lsu: &str, folder: &str) -> Vec<String> {
        let mut out: Vec<String> = match self {
            Stored::Folders(root) => std::fs::read_dir(root.join(lsu).join(folder))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !n.starts_with('.'))
                        .collect()
                })
                .unwrap_or_default(),
            Stored::Buckets(sim) => {
                let prefix = format!("{}/", folder.trim_end_matches('/'));
                sim.object_keys(lsu, &prefix)
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
                    .filter(|n| !n.contains('/'))
                    .collect()
            }
        };
        out.sort();
        out
    }

    /// The bytes of `path`.
    pub fn read(&self, lsu: &str, path: &str) -> Vec<u8> {
        match self {
            Stored::Folders(root) => std::fs::read(root.join(lsu).join(path)).unwrap(),
            Stored::Buckets(sim) => sim.object(lsu, path).unwrap_or_else(|| panic!("no object {lsu}/{path}")),
        }
    }

    /// Replaces the bytes of `path`.
    pub fn write(&self, lsu: &str, path: &str, data: &[u8]) {
        match self {
            Stored::Folders(root) => std::fs::write(root.join(lsu).join(path), data).unwrap(),
            Stored::Buckets(sim) => sim.put_object(lsu, path, data).unwrap(),
        }
    }

    /// Removes `path`.
    pub fn remove(&self, lsu: &str, path: &str) {
        match self {
            Stored::Folders(root) => std::fs::remove_file(root.join(lsu).join(path)).unwrap(),
            Stored::Buckets(sim) => assert!(sim.delete_object(lsu, path), "no object {lsu}/{path}"),
        }
    }

    /// Data fragments under `folder` (`""`: the whole LSU).
    pub fn fragments(&self, lsu: &str, folder: &str) -> usize {
        match self {
            Stored::Folders(root) => fragment_files(&root.join(lsu).join(folder)),
            Stored::Buckets(sim) => {
                let prefix =
                    if folder.is_empty() { String::new() } else { format!("{}/", folder.trim_end_matches('/')) };
                sim.object_keys(lsu, &prefix).iter().filter(|k| k.rsplit('/').nth(1) == Some("frag")).count()
            }
        }
    }
}

/// Backs up `data` into a new image, complete, in `write_image` calls of
/// `step` bytes (a multiple of 512).
pub fn backup(
    s: &vastost_loader::Server<'_>,
    lsu: &str,
    name: &str,
    data: &[u8],
    step: usize,
) -> Result<(), vastost_loader::OstError> {
    let mut img = s.create_image(lsu, name, "1")?;
    for (i, chunk) in data.chunks(step).enumerate() {
        img.write(chunk, (i * step) as u64)?;
    }
    img.close(true)
}

/// Reads a whole image back in `read_image` calls of `step` bytes (a
/// multiple of 512).
pub fn restore(
    s: &vastost_loader::Server<'_>,
    lsu: &str,
    name: &str,
    step: usize,
) -> Result<Vec<u8>, vastost_loader::OstError> {
    let mut img = s.open_image(lsu, name, "1", vastost_ost::STS_O_READ)?;
    let size = img.info()?.size as usize;
    let mut out = vec![0u8; size];
    let mut off = 0;
    while off < size {
        let n = img.read(&mut out[off..(off + step).min(size)], off as u64)? as usize;
        off += n;
    }
    img.close(false)?;
    Ok(out)
}
