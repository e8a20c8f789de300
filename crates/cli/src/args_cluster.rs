//! Arguments of `setup`: provisioning a real cluster through VMS.

use std::path::PathBuf;

use bytesize::ByteSize;
use clap::Args;

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
