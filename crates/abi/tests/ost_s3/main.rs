//! The ABI suite of `tests/ost` over the S3 data path: the same tests, the
//! plugin configured with `data_path = "s3"` against the simulator's S3
//! endpoint; the tests that damage stored objects on purpose reach them
//! through `Fixture::stored`, as they reach an NFS LSU's files.

use vastost_testkit as support;

#[path = "../ost/bad_input.rs"]
mod bad_input;
#[path = "../ost/concurrency.rs"]
mod concurrency;
#[path = "../ost/copies.rs"]
mod copies;
#[path = "../ost/damage.rs"]
mod damage;
#[path = "../ost/data.rs"]
mod data;
#[path = "../ost/images.rs"]
mod images;
mod replication;
#[path = "../ost/server.rs"]
mod server;

use std::path::PathBuf;
use std::sync::OnceLock;

use vastost_loader::{Plugin, Server};
use vastost_sim::Simulator;

/// This suite runs the S3 data path.
pub const S3: bool = true;

/// The shared, initialized plugin and the simulator it talks to.
pub struct Fixture {
    pub plugin: Plugin,
    pub data: PathBuf,
    pub sim: Simulator,
    /// A second cluster, server `VastData:remote`, for replication.
    pub remote: Simulator,
    pub remote_data: PathBuf,
}

impl Fixture {
    /// What the LSUs hold, below the plugin: the simulator's buckets.
    pub fn stored(&self) -> support::Stored<'_> {
        support::Stored::Buckets(&self.sim)
    }
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = support::process_dir(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")), "ost_s3");
        let data = root.join("s3");
        let sim = Simulator::start(&data, "127.0.0.1:0".parse().unwrap()).expect("simulator");
        let remote_data = root.join("remote");
        let remote = Simulator::start(&remote_data, "127.0.0.1:0".parse().unwrap()).expect("second simulator");
        let creds = support::write_sim_credentials(&root);
        let server_on = |name: &str, fragment: &str, sim: &Simulator| {
            format!(
                "[server.\"{name}\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\n\
                 lsus = [\"lsu-props\"]\nfragment_size = \"{fragment}\"\nread_ahead = \"256KiB\"\n\n",
                sim.s3_endpoint(),
                creds.display()
            )
        };
        let server = |name: &str, fragment: &str| server_on(name, fragment, &sim);
        let config = root.join("vastost.toml");
        let text = format!(
            "[plugin]\nmemory_budget = \"512MiB\"\nlog_level = \"debug\"\nlog_file = \"{}\"\n\n{}{}",
            root.join("logs/plugin.log").display(),
            server("small", "64KiB"),
            server("big", "64MiB")
        ) + &server_on("remote", "64KiB", &remote);
        std::fs::write(&config, text).unwrap();
        let plugin = support::load();
        plugin.init(Some(&config)).expect("init");
        Fixture { plugin, data, sim, remote, remote_data }
    })
}

/// Opens `VastData:<server>` and makes a bucket named after the test
/// (with `-` for `_`, which bucket names cannot hold).
pub fn open(server: &str, lsu: &str) -> (Server<'static>, String) {
    let f = fixture();
    let lsu = lsu.replace('_', "-");
    f.sim.create_bucket(&lsu).unwrap();
    let s = f.plugin.open_server(&format!("VastData:{server}"), None).expect("open_server");
    (s, lsu.to_string())
}

/// The status of a failed call.
pub fn status<T: std::fmt::Debug>(r: Result<T, vastost_loader::OstError>) -> vastost_ost::sts_status {
    let e = r.expect_err("the call should fail");
    e.code().unwrap_or_else(|| panic!("unknown status {} ({})", e.status, e.message))
}
