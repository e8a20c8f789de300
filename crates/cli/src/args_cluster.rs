//! Arguments of the commands that stand up a cluster: `sim` (a simulated
//! one) and `setup` (provisioning a real one through VMS).

use std::path::PathBuf;

use bytesize::ByteSize;
use clap::Args;

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
    /// Answer as a cluster this far away would (a round trip: 10ms, 2ms,
    /// 500us): each request that much later, each connection once more.
    #[arg(long, default_value = "0ms", value_parser = latency)]
    pub latency: std::time::Duration,
    /// Answer S3 requests beyond this many in flight with 503 SlowDown at
    /// once, as a busy cluster sheds load (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_in_flight: usize,
    /// Bytes per second one S3 connection moves each way at most, as one
    /// TCP flow across a long network does (0: no limit).
    #[arg(long, default_value = "0")]
    pub bandwidth_per_connection: ByteSize,
}

/// Setup arguments.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Storage server name to configure (the part after VastData:).
    #[arg(long)]
    pub server: String,
    /// The cluster's VMS, https://<vms-host>.
    #[arg(long)]
    pub vms: String,
    /// VMS administrator used for provisioning.
    #[arg(long, default_value = "admin")]
    pub vms_user: String,
    /// File holding that administrator's password.
    #[arg(long)]
    pub vms_password_file: PathBuf,
    /// The cluster's S3 endpoint.
    #[arg(long)]
    pub s3_endpoint: String,
    /// Buckets to serve as LSUs (repeatable).
    #[arg(long = "bucket", required = true)]
    pub buckets: Vec<String>,
    /// A quota on each bucket.
    #[arg(long)]
    pub quota: Option<ByteSize>,
    /// S3 user owning the buckets (a local user, created in the tenant's
    /// local provider, else in the provider named local).
    #[arg(long, default_value = "vastost")]
    pub s3_user: String,
    /// Tenant to create (if missing) and provision in.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Create the views locked (WORM) with this retention mode: images the
    /// plugin locks cannot be deleted before their unlock time, by anyone
    /// (compliance) or but by a privileged user (governance).
    #[arg(long, value_parser = ["compliance", "governance"])]
    pub worm: Option<String>,
    /// With --worm: the shortest lock, as VMS writes periods (12h, 1d, 1m
    /// for a month, 1y).
    #[arg(long, requires = "worm", default_value = "1d", value_parser = vms_period)]
    pub min: String,
    /// With --worm: the longest lock (1y, 10y).
    #[arg(long, requires = "worm", default_value = "10y", value_parser = vms_period)]
    pub max: String,
    /// With --worm: a lock the cluster gives every object written to the
    /// LSUs (each image is then locked as it is closed, for as long); the
    /// plugin's own records then go to --bookkeeping-bucket, created too.
    #[arg(long, requires = "worm", value_parser = vms_period)]
    pub default: Option<String>,
    /// With --default: the unlocked bucket for the plugin's bookkeeping.
    #[arg(long, requires = "default", default_value = "vastost-bookkeeping")]
    pub bookkeeping_bucket: String,
    /// Print what would be created and what exists, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// PEM CA bundle for the cluster's certificates.
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
    /// Configuration file to write.
    #[arg(long, default_value = "vastost.toml")]
    pub config_out: PathBuf,
    /// S3 credentials file to write (mode 600); kept if it already holds keys.
    #[arg(long)]
    pub credentials_out: PathBuf,
}

/// Checks a VMS retention period (a number and h, d, m or y).
fn vms_period(text: &str) -> Result<String, String> {
    match vastost_vms::period_secs(text, false) {
        Some(_) => Ok(text.trim().to_string()),
        None => Err(format!("{text:?} is not a period like 12h, 1d, 6m or 7y")),
    }
}

/// Parses a network latency: a number with ms or us (`10ms`, `500us`).
pub(crate) fn latency(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a latency like 10ms or 500us"))?;
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "us" => Ok(std::time::Duration::from_micros(n)),
        _ => Err(format!("{text:?} is not a latency like 10ms or 500us")),
    }
}
