//! `vastost demo`: the whole product on a temporary directory, through the
//! real plugin library: over S3 against a cluster simulator started in this
//! process, then over a folder standing in for a VAST NFS mount.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytesize::ByteSize;
use vastost_config::{Config, DataPath, Nfs, ServerConfig, Vms};
use vastost_loader::Server;
use vastost_ost::{STS_II_IMAGE_CREATED, STS_II_IMAGE_PENDING, STS_O_WRITE};

use vastost_sim::Simulator;

use crate::args::DemoArgs;
use crate::data::Pattern;
use crate::data::PatternReader;
use crate::exit::Mismatch;
use crate::transfer::{self, Compare, ContentMeta, Transfer, progress};
use crate::{fmt, session};

const SERVER: &str = "VastData:demo";
const S3_SERVER: &str = "VastData:demo-s3";
const LSU: &str = "lsu1";
const BLOCK: usize = 1 << 20;

/// The S3 server of a demo or bench configuration.
pub struct S3Demo<'a> {
    /// The S3 endpoint.
    pub endpoint: &'a str,
    /// The S3 credentials file.
    pub credentials: &'a Path,
    /// The VMS endpoint, if the server should log in to VMS.
    pub vms: Option<&'a str>,
    /// CA certificates to trust for `https://` endpoints.
    pub ca_bundle: Option<&'a Path>,
}

/// The simulator's VMS account the demo logs in with.
const VMS_LOGIN: (&str, &str) = ("admin", "123456");

/// Writes the demo's configuration into `dir` and returns its path: server
/// `demo` on the NFS data path over `data` (its fragments written past the
/// page cache with `direct_io`), and `demo-s3` on the S3 data path when an
/// endpoint and credentials file are given.
pub fn write_config(
    dir: &Path,
    data: &Path,
    fragment: u64,
    budget: u64,
    direct_io: bool,
    s3: Option<S3Demo<'_>>,
) -> Result<PathBuf> {
    let mut config = Config::default();
    config.plugin.memory_budget = ByteSize::b(budget);
    config.plugin.log_file = Some(dir.join("logs").join("vastost.log"));
    let mut nfs = ServerConfig::nfs(data);
    nfs.data = DataPath::Nfs(Nfs { directory: data.to_path_buf(), direct_io });
    nfs.lsus = vec![LSU.into()];
    nfs.transfer.fragment_size = ByteSize::b(fragment);
    config.servers.insert("demo".into(), nfs);
    if let Some(S3Demo { endpoint, credentials, vms, ca_bundle }) = s3 {
        let mut s3 = ServerConfig::s3(endpoint, credentials);
        s3.lsus = vec![LSU.into()];
        s3.transfer.fragment_size = ByteSize::b(fragment);
        s3.vms = vms.map(Vms::at);
        s3.tls.ca_bundle = ca_bundle.map(Path::to_path_buf);
        config.servers.insert("demo-s3".into(), s3);
    }
    write_config_file(&dir.join("vastost.toml"), "vastost demo/bench", &config)
}

/// Writes `config` to `path`, saying which command wrote it, and returns
/// the path.
pub fn write_config_file(path: &Path, by: &str, config: &Config) -> Result<PathBuf> {
    config.validate().with_context(|| format!("the configuration for {} is not valid", path.display()))?;
    let text = format!("# Written by {by}.\n{}", config.to_toml());
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.to_path_buf())
}

/// Restores an image and checks it bit for bit against `pattern`.
fn restore_and_check(server: &Server<'_>, basename: &str, date: &str, pattern: Pattern, len: u64) -> Result<Transfer> {
    let bar = progress(Some(len), "restore");
    let mut cmp = Compare::new(PatternReader::new(pattern, 0, len));
    let t = transfer::restore(server, LSU, basename, date, &mut cmp, BLOCK, transfer::Proof::Required, &bar)?;
    bar.finish_and_clear();
    if let Some(at) = cmp.finish()? {
        return Err(
            Mismatch(format!("restored image {basename} differs from the backed-up stream at byte {at}")).into()
        );
    }
    Ok(t)
}

/// Throughputs of one data path's run.
struct Figures {
    backup: Transfer,
    restore: Transfer,
}

/// Runs the demonstration: an S3 data path against a simulator started in
/// this process, then the NFS data path on a folder.
pub fn run(plugin_path: Option<&Path>, args: &DemoArgs) -> Result<()> {
    let size = args.size.0;
    let _tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            _tmp = tempfile::Builder::new()
                .prefix("vastost-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            _tmp.path().to_path_buf()
        }
    };
    let nfs = dir.join("vast-nfs");
    std::fs::create_dir_all(&nfs)?;
    // HTTPS for S3 and VMS, as on a cluster, with the simulator's own
    // certificate as the CA the plugin trusts.
    let tls = vastost_sim::SimTls::self_signed()?;
    let ca = dir.join("vast-sim-ca.pem");
    std::fs::write(&ca, &tls.cert_pem).with_context(|| format!("cannot write {}", ca.display()))?;
    let sim = Simulator::start_with(&dir.join("vast-sim"), "127.0.0.1:0".parse()?, Some(tls))
        .context("cannot start the simulator")?;
    sim.create_bucket(LSU)?;
    let creds = dir.join("s3-credentials.toml");
    crate::secrets::write_credentials(&creds, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
    let (s3_endpoint, vms_endpoint) = (sim.s3_endpoint(), sim.vms_endpoint());
    let s3 = S3Demo { endpoint: &s3_endpoint, credentials: &creds, vms: Some(&vms_endpoint), ca_bundle: Some(&ca) };
    let config = write_config(&dir, &nfs, 8 << 20, 1 << 30, true, Some(s3))?;
    let plugin = session::load(plugin_path, Some(&config))?;
    println!("vastost demo: plugin {} (version {})", plugin.path().display(), plugin.version());

    println!(
        "S3 data path: VAST cluster simulator, S3 at {s3_endpoint}, VMS at {vms_endpoint} (buckets in {})",
        sim.data().display()
    );
    let s3 = scenario(&plugin, S3_SERVER, Some(VMS_LOGIN), size)?;
    println!("NFS data path: {} stands in for a VAST NFS mount", nfs.display());
    let nfs = scenario(&plugin, SERVER, None, size)?;

    let stats = plugin.stats()?;
    println!(
        "summary: S3 backup {}, restore {}; NFS backup {}, restore {}; plugin memory peak {} of a {} budget; \
         everything verified",
        fmt::rate(s3.backup.bytes, s3.backup.elapsed),
        fmt::rate(s3.restore.bytes, s3.restore.elapsed),
        fmt::rate(nfs.backup.bytes, nfs.backup.elapsed),
        fmt::rate(nfs.restore.bytes, nfs.restore.elapsed),
        fmt::size(stats.vs_budget_peak),
        fmt::size(stats.vs_budget_total)
    );
    plugin.terminate()?;
    Ok(())
}

/// Backup, list, restore, checkpoint/restart, copy and delete on one server.
fn scenario(
    plugin: &vastost_loader::Plugin,
    server_name: &str,
    login: Option<(&str, &str)>,
    size: u64,
) -> Result<Figures> {
    let server = plugin.open_server(server_name, login).context("open_server failed")?;
    let info = server.info()?;
    let lsu = server.lsu_info(LSU)?;
    println!("  server   {} [{}] {}", info.name, fmt::server_flags(info.flags), info.version);
    println!("  lsu      {} capacity {}, used {}", lsu.name, fmt::size(lsu.capacity), fmt::size(lsu.used));

    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let date = stamp.to_string();
    let full = format!("demo-client_{stamp}_C1_F1");
    let pattern = Pattern::new(stamp);

    // 1. A full backup.
    let bar = progress(Some(size), "backup");
    let b = transfer::backup(&server, LSU, &full, &date, &mut PatternReader::new(pattern, 0, size), BLOCK, &bar)?;
    bar.finish_and_clear();
    println!("  [1/6] backup   {} into {full} at {}", fmt::size(b.bytes), fmt::rate(b.bytes, b.elapsed));

    // 2. What the LSU holds now.
    let images = server.images(LSU)?;
    let listed = images.iter().find(|i| i.basename == full).context("the new image is not listed")?;
    if listed.flags & STS_II_IMAGE_CREATED == 0 || listed.size < size {
        bail!("the new image is listed as {} bytes, {}", listed.size, fmt::image_flags(listed.flags));
    }
    println!(
        "  [2/6] list     {} image(s); {full} {} {}",
        images.len(),
        fmt::size(listed.size),
        fmt::image_flags(listed.flags)
    );

    // 3. Restore, compared bit for bit with the stream that was backed up.
    let r = restore_and_check(&server, &full, &date, pattern, size)?;
    println!("  [3/6] restore  {} identical to the source at {}", fmt::size(r.bytes), fmt::rate(r.bytes, r.elapsed));

    // 4. Checkpoint/restart: a backup interrupted by a checkpoint, resumed.
    let ck_size = (size / 4).max(1 << 20).next_multiple_of(1024);
    let half = ck_size / 2;
    let ck = format!("demo-client_{stamp}_C1_F2");
    let ck_pattern = Pattern::new(stamp ^ 0xC0FFEE);
    let bar = progress(Some(ck_size), "ckpt");
    let mut image = server.create_image(LSU, &ck, &date)?;
    let (first, crc) =
        transfer::write_stream(&mut image, &mut PatternReader::new(ck_pattern, 0, half), 0, BLOCK, 0, &bar)?;
    image.close(false).context("checkpoint close failed")?;
    let pending = server.image_info(LSU, &ck, &date)?;
    if pending.flags & STS_II_IMAGE_PENDING == 0 || pending.size != first {
        bail!("after the checkpoint the image is {} bytes, {}", pending.size, fmt::image_flags(pending.flags));
    }
    let mut image = server.open_image(LSU, &ck, &date, STS_O_WRITE).context("reopen for write failed")?;
    let resume_at = image.info()?.size;
    let mut rest = PatternReader::new(ck_pattern, resume_at, ck_size);
    let (second, crc) = transfer::write_stream(&mut image, &mut rest, resume_at, BLOCK, crc, &bar)?;
    transfer::write_content_meta(&mut image, ContentMeta { content_length: first + second, crc32c: crc })?;
    image.close(true).context("final close failed")?;
    bar.finish_and_clear();
    restore_and_check(&server, &ck, &date, ck_pattern, ck_size)?;
    println!(
        "  [4/6] ckpt     {} in two sessions (checkpoint at {}: PENDING; resumed: CREATED); restored identical",
        fmt::size(ck_size),
        fmt::size(first)
    );

    // 5. Optimized duplication: a second copy of the full, made by the
    // cluster (by reference: no byte moves), as fast whatever the size.
    let copy = format!("demo-client_{stamp}_C2_F1");
    let started = Instant::now();
    server.copy_image(LSU, (&full, &date), &server, LSU, (&copy, &date))?;
    let took = started.elapsed();
    restore_and_check(&server, &copy, &date, pattern, size)?;
    println!(
        "  [5/6] copy     {} duplicated in {:.0} ms ({:.0}x faster than its restore); the copy restored identical",
        fmt::size(size),
        took.as_secs_f64() * 1e3,
        r.elapsed.as_secs_f64() / took.as_secs_f64().max(1e-6)
    );

    // 6. Delete them all; the LSU is empty again.
    let started = Instant::now();
    for name in [&full, &ck, &copy] {
        server.delete_image(LSU, name, &date)?;
    }
    let left = server.images(LSU)?.len();
    if left != 0 {
        bail!("{left} image(s) left after deleting");
    }
    println!("  [6/6] delete   3 images in {:.0} ms; the LSU is empty", started.elapsed().as_secs_f64() * 1e3);
    Ok(Figures { backup: b, restore: r })
}
