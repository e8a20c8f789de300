//! Command-line arguments.

use std::path::PathBuf;

use bytesize::ByteSize;
use clap::{Args, Parser, Subcommand};

use crate::arg_values::{block_size, duration_secs};

pub use crate::args_cluster::SetupArgs;
#[cfg(feature = "lab")]
pub use crate::args_lab::{BenchArgs, DemoArgs, SimArgs};

/// `--version`: the build, and the stored formats a plugin of the same
/// build reads and writes.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use vastost_ost::{VASTOST_FORMAT_OLDEST_READ, VASTOST_FORMAT_WRITTEN};
    format!(
        "{} (stored formats: reads {VASTOST_FORMAT_OLDEST_READ}-{VASTOST_FORMAT_WRITTEN}, writes {VASTOST_FORMAT_WRITTEN})",
        env!("VASTOST_VERSION")
    )
});

/// Drive the VAST Data OpenStorage plugin as a NetBackup media server does.
#[derive(Debug, Parser)]
#[command(name = "vastost", version = VERSION.as_str(), propagate_version = true)]
pub struct Cli {
    /// Plugin configuration file.
    #[arg(long, global = true, env = "VASTOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Plugin library to load (default: beside this program, else
    /// /usr/openv/lib/ost-plugins/libstspiVastDataMT.so).
    #[arg(long, global = true, env = "VASTOST_PLUGIN")]
    pub plugin: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a storage server advertises (like bpstsinfo -serverinfo).
    ServerInfo(ServerArgs),
    /// List or inspect LSUs.
    #[command(subcommand)]
    Lsu(LsuCommand),
    /// Snapshots of an LSU's view on the cluster (through VMS): a second
    /// line of defence beside image locks.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Back up a file or standard input into a new image.
    Backup(BackupArgs),
    /// Restore an image to a file or standard output.
    Restore(RestoreArgs),
    /// List the images of an LSU (like bpstsinfo -imageinfo).
    Images(LsuArgs),
    /// Show one image's properties.
    ImageInfo(ImageArgs),
    /// Delete an image.
    Delete(ImageArgs),
    /// Lock a complete image against deletion (WORM LSUs), or extend its
    /// lock; locking again with the same time completes an interrupted lock.
    Lock(LockArgs),
    /// Lift an image's governance lock before it expires (privileged: the
    /// cluster must let the S3 user bypass governance retention). Who
    /// asked and why is recorded first on the cluster (see `audit`) and in
    /// the system log; a compliance lock is never lifted.
    Unlock(UnlockArgs),
    /// List an LSU's audit trail: each lock released before it expired,
    /// when, by whom, from which media server (kept on the cluster, locked
    /// until the released lock would have expired).
    Audit(LsuArgs),
    /// Remove what someone holding the storage keys wrote into a locked
    /// image's folder behind its lock (delete markers, versions written over
    /// locked objects, added records and objects), as far as the keys
    /// allow; restores already ignore it. Lists what was removed and kept.
    Untamper(ImageArgs),
    /// Read an image end to end, checking every checksum (and, with
    /// --against, every byte against a file).
    Verify(VerifyArgs),
    /// Verify every complete image of an LSU end to end against its
    /// checksums, reporting each damaged range (exit 3 if any).
    VerifyLsu(LsuArgs),
    /// Self-contained demonstration on a temporary directory: backup,
    /// list, restore and verify, checkpoint/restart, delete.
    #[cfg(feature = "lab")]
    Demo(DemoArgs),
    /// Measure backup and restore through the plugin against plain file I/O.
    #[cfg(feature = "lab")]
    Bench(BenchArgs),
    /// Run a VAST cluster simulator (VMS and S3 endpoints) until stopped.
    #[cfg(feature = "lab")]
    Sim(SimArgs),
    /// Check a configured server end to end: login, TLS, LSUs, bucket
    /// access (a probe image written, read back and deleted), clock skew.
    Check(CheckArgs),
    /// Copy an image: within the server by reference (no data moves), or to
    /// another server (--to-server), streamed and verified.
    Copy(CopyArgs),
    /// Build a virtual (synthetic) image from ranges of existing images of
    /// the same LSU, copying no data.
    Synth(SynthArgs),
    /// Show (and with --delete, remove) the events of a server.
    Events(EventsArgs),
    /// Free the space that deleted images and crashed backups left.
    ///
    /// Removes fragments no live image maps, and the remains of deleted
    /// images once nothing references them (their tombstones once older
    /// than the abandon age). Pending images whose last commit is older
    /// than the abandon age (--older-than, default abandon_after_hours =
    /// 24h) are abandoned: data past their last checkpoint is freed, and
    /// an image with no checkpoint is deleted; younger ones are not
    /// touched. S3 multipart uploads of images older than that age are
    /// aborted. Folders with data but no commit record are reported as
    /// damaged and left alone. Expired events are deleted.
    Reclaim(ReclaimArgs),
    /// Provision a cluster for the plugin through VMS (S3 user and keys,
    /// buckets, quotas) and write the plugin's configuration; safe to rerun.
    Setup(SetupArgs),
    /// Collect what support asks for into one archive: the configuration
    /// with secrets removed, versions, the plugin log's last lines and
    /// `check` of every configured server. Works when the configuration
    /// does not.
    SupportBundle(SupportArgs),
    /// Show what the plugin processes of this machine are doing, from the
    /// metrics files they write (`metrics_dir`): transfers, requests to
    /// the cluster and their latency, retries, breakers, memory, handles.
    Stats(StatsArgs),
}

/// Stats arguments.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The metrics folder (default: `metrics_dir` of the configuration).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Read again every this many seconds, with rates since the last read.
    #[arg(long)]
    pub watch: Option<u64>,
}

/// Support bundle arguments.
#[derive(Debug, Args)]
pub struct SupportArgs {
    /// The archive to write (`.tar.gz`).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Lines of the plugin's log to include.
    #[arg(long, default_value_t = 2000)]
    pub log_lines: usize,
}

/// Check arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this LSU (default: every LSU).
    #[arg(long, short = 'l')]
    pub lsu: Option<String>,
}

/// LSU commands.
#[derive(Debug, Subcommand)]
pub enum LsuCommand {
    /// List the LSUs of a server.
    List(ServerArgs),
    /// Show an LSU's capacity, use and label (like bpstsinfo -lsuinfo).
    Info(LsuArgs),
    /// Set an LSU's label.
    Label {
        /// The LSU.
        #[command(flatten)]
        lsu: LsuArgs,
        /// The label.
        label: String,
    },
}

/// Snapshot commands.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot of the LSU's view.
    Create {
        /// The LSU.
        #[command(flatten)]
        lsu: LsuArgs,
        /// Its name (default: vastost-<lsu>-<seconds since the epoch>).
        #[arg(long)]
        name: Option<String>,
        /// Expire it after this long (e.g. 30d, 1y).
        #[arg(long, value_parser = duration_secs)]
        expires: Option<u64>,
        /// Nobody can delete it before it expires (needs --expires).
        #[arg(long, requires = "expires")]
        indestructible: bool,
    },
    /// List the snapshots of the LSU's view.
    List(LsuArgs),
    /// Delete a snapshot of the LSU's view.
    Delete {
        /// The LSU.
        #[command(flatten)]
        lsu: LsuArgs,
        /// The snapshot's name.
        #[arg(long)]
        name: String,
    },
}

/// Which storage server.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Storage server, as NetBackup names it: VastData:<cluster> or vast://<cluster>.
    #[arg(long, short = 's', env = "VASTOST_SERVER")]
    pub server: String,
    /// Storage server user (as given to tpconfig -sts_user_id).
    #[arg(long, env = "VASTOST_USER")]
    pub user: Option<String>,
    /// File holding the storage server password (never given on the command line).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

/// Which LSU.
#[derive(Debug, Args)]
pub struct LsuArgs {
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// LSU name.
    #[arg(long, short = 'l', env = "VASTOST_LSU")]
    pub lsu: String,
}

/// Which image.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The LSU.
    #[command(flatten)]
    pub lsu: LsuArgs,
    /// Image basename.
    #[arg(long, short = 'i')]
    pub image: String,
    /// Image date (default: a new one for backup, the newest image of that
    /// basename otherwise).
    #[arg(long)]
    pub date: Option<String>,
}

/// Lock arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["for_", "until"])))]
pub struct LockArgs {
    /// The image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Lock for this long from now (e.g. 30d, 1y, 12h).
    #[arg(long = "for", id = "for_", value_parser = duration_secs)]
    pub for_: Option<u64>,
    /// Lock until this time, in seconds since the epoch.
    #[arg(long)]
    pub until: Option<u64>,
}

/// Unlock arguments.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Why (for the audit log, beside the user running the command).
    #[arg(long)]
    pub reason: String,
}

/// Backup arguments.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The image to create.
    #[command(flatten)]
    pub image: ImageArgs,
    /// File to back up; - for standard input.
    #[arg(long, default_value = "-")]
    pub input: PathBuf,
    /// Size of each write_image call (512 bytes to 256MiB).
    #[arg(long, default_value = "1MiB", value_parser = block_size)]
    pub block: ByteSize,
}

/// Restore arguments.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The image to read.
    #[command(flatten)]
    pub image: ImageArgs,
    /// File to write; - for standard output. A file is written under a
    /// temporary name and renamed only when the restore succeeded.
    #[arg(long, default_value = "-")]
    pub output: PathBuf,
    /// Size of each read_image call (512 bytes to 256MiB).
    #[arg(long, default_value = "1MiB", value_parser = block_size)]
    pub block: ByteSize,
    /// Restore an image whose metadata is another program's (so it has no
    /// content record of vastost's) as stored: all its bytes, padded to
    /// 512-byte blocks, without a content checksum to prove them. (An image
    /// with no metadata at all, as `vastost synth` made them before stored
    /// format 2, is restored as stored without it, saying so.)
    #[arg(long)]
    pub as_stored: bool,
}

/// Verify arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image to check.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Also compare every byte with this file.
    #[arg(long)]
    pub against: Option<PathBuf>,
    /// Verify an image that has no content record as stored (see restore).
    #[arg(long)]
    pub as_stored: bool,
}

/// Copy arguments.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The image to copy.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Target server (default: the same server), opened with the same user
    /// and password.
    #[arg(long)]
    pub to_server: Option<String>,
    /// Target LSU (default: the same LSU).
    #[arg(long)]
    pub to_lsu: Option<String>,
    /// Target image basename.
    #[arg(long)]
    pub to_image: String,
    /// Target image date (default: the source's).
    #[arg(long)]
    pub to_date: Option<String>,
}

/// Synth arguments.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// The image to create.
    #[command(flatten)]
    pub image: ImageArgs,
    /// A range to append: IMAGE[/DATE]:OFFSET:LENGTH, sizes like 0, 4MiB or
    /// `rest` (to the image's end); repeatable, in order.
    #[arg(long = "from", required = true)]
    pub ranges: Vec<String>,
}

/// Events arguments.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Delete each event once shown.
    #[arg(long)]
    pub delete: bool,
}

/// Reclaim arguments.
#[derive(Debug, Args)]
pub struct ReclaimArgs {
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this LSU (default: every LSU).
    #[arg(long, short = 'l')]
    pub lsu: Option<String>,
    /// Seconds a reference in the making protects data (default: the
    /// server's reclaim_grace_secs). 0 only when no copy runs anywhere.
    #[arg(long)]
    pub grace: Option<u64>,
    /// Abandon pending images whose last commit is older than this (e.g.
    /// 30m, 24h, 7d; default: the server's abandon_after_hours, 24h), abort
    /// S3 multipart uploads older than this, and remove tombstones older
    /// than this. A backup still writing without a checkpoint for longer
    /// fails at its close rather than committing freed data.
    #[arg(long, value_parser = duration_secs)]
    pub older_than: Option<u64>,
}
