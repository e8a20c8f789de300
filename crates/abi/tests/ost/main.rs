//! The plugin through its real C ABI: the library is built, loaded with
//! dlopen and driven as a media server drives it. One plugin instance
//! serves every test of this program (as in a media server process); each
//! test works in an LSU of its own.

use vastost_testkit as support;

mod bad_input;
mod c_program;
mod concurrency;
mod copies;
mod damage;
mod data;
mod header;
mod images;
mod server;

use std::path::PathBuf;
use std::sync::OnceLock;

use vastost_loader::{Plugin, Server};

/// This suite runs the NFS data path (`ost_s3` runs the same tests over S3).
pub const S3: bool = false;

/// The shared, initialized plugin.
pub struct Fixture {
    pub plugin: Plugin,
    pub data: PathBuf,
    pub config: PathBuf,
}

impl Fixture {
    /// What the LSUs hold, below the plugin: folders of `data`.
    pub fn stored(&self) -> support::Stored<'_> {
        support::Stored::Folders(&self.data)
    }
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = support::process_dir(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")), "ost");
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let config = support::write_config(&root, &data, "512MiB");
        let plugin = support::load();
        plugin.init(Some(&config)).expect("init");
        Fixture { plugin, data, config }
    })
}

/// Opens `VastData:<server>` and makes an LSU named after the test.
pub fn open(server: &str, lsu: &str) -> (Server<'static>, String) {
    let f = fixture();
    std::fs::create_dir_all(f.data.join(lsu)).unwrap();
    let s = f.plugin.open_server(&format!("VastData:{server}"), None).expect("open_server");
    (s, lsu.to_string())
}

/// The status of a failed call.
pub fn status<T: std::fmt::Debug>(r: Result<T, vastost_loader::OstError>) -> vastost_ost::sts_status {
    let e = r.expect_err("the call should fail");
    e.code().unwrap_or_else(|| panic!("unknown status {} ({})", e.status, e.message))
}
