//! The commands that act on a configured server.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use vastost_loader::{Plugin, Server};
use vastost_ost::{STS_II_WORM_LOCKED, STS_LSUF_WORM, STS_LSUF_WORM_COMPLIANCE};

use crate::args::{BackupArgs, Cli, Command, LsuCommand, RestoreArgs, VerifyArgs};
use crate::dates::{now_date, resolve_date, resolve_date_for_info, resolve_date_to_change};
use crate::exit::Mismatch;
use crate::transfer::{self, Compare, Proof, progress};
use crate::{fmt, session};

/// Runs the command line.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        #[cfg(feature = "lab")]
        Command::Demo(args) => return crate::demo::run(cli.plugin.as_deref(), args),
        #[cfg(feature = "lab")]
        Command::Bench(args) => return crate::bench::run(cli.plugin.as_deref(), args),
        #[cfg(feature = "lab")]
        Command::Sim(args) => return crate::sim::run(args),
        Command::Setup(args) => return crate::setup::run(args),
        Command::SupportBundle(args) => return crate::support::run(&cli, args),
        Command::Stats(args) => return crate::stats::run(&cli, args),
        _ => {}
    }
    let plugin = session::plugin(&cli)?;
    let result = dispatch(&plugin, &cli.command);
    plugin.terminate().context("stspi_terminate failed")?;
    result
}

fn dispatch(plugin: &Plugin, command: &Command) -> Result<()> {
    match command {
        Command::ServerInfo(args) => server_info(&session::open(plugin, args)?),
        Command::Lsu(LsuCommand::List(args)) => {
            for name in session::open(plugin, args)?.lsus()? {
                println!("{name}");
            }
            Ok(())
        }
        Command::Lsu(LsuCommand::Info(args)) => {
            let server = session::open(plugin, &args.server)?;
            let i = server.lsu_info(&args.lsu)?;
            println!("lsu        {}", i.name);
            println!("flags      {}", fmt::lsu_flags(i.flags));
            println!("capacity   {} ({} bytes)", fmt::size(i.capacity), i.capacity);
            println!("used       {} ({} bytes)", fmt::size(i.used), i.used);
            println!("available  {} ({} bytes)", fmt::size(i.available), i.available);
            println!("label      {}", if i.label.is_empty() { "-" } else { &i.label });
            if i.flags & STS_LSUF_WORM != 0 {
                let mode = if i.flags & STS_LSUF_WORM_COMPLIANCE != 0 { "compliance" } else { "governance" };
                let (min, max) = i.worm_bounds;
                println!("worm       {mode}, locks of {} to {}", fmt::span(min), fmt::span(max));
            } else {
                println!("worm       no");
            }
            let f = server.lsu_formats(&args.lsu)?;
            let newest = match f.vf_lsu_newest {
                0 => "none recorded".to_string(),
                n => format!("{n} newest written"),
            };
            println!(
                "formats    {newest}, writable by format {} and later; this plugin reads {}-{}, writes {}",
                f.vf_lsu_writers_from, f.vf_oldest_read, f.vf_written, f.vf_written
            );
            Ok(())
        }
        Command::Lsu(LsuCommand::Label { lsu, label }) => {
            session::open(plugin, &lsu.server)?.label_lsu(&lsu.lsu, label)?;
            Ok(())
        }
        Command::Snapshot(command) => crate::snapshots::run(plugin, command),
        Command::Images(args) => {
            let server = session::open(plugin, &args.server)?;
            let images = server.images(&args.lsu)?;
            println!("{:<40} {:<12} {:>14} flags", "basename", "date", "size");
            for i in &images {
                println!("{:<40} {:<12} {:>14} {}", i.basename, i.date, i.size, fmt::image_flags(i.flags));
            }
            eprintln!("{} image(s)", images.len());
            Ok(())
        }
        Command::ImageInfo(args) => {
            let server = session::open(plugin, &args.lsu.server)?;
            let date = resolve_date_for_info(&server, args)?;
            let i = server.image_info(&args.lsu.lsu, &args.image, &date)?;
            println!("basename   {}", i.basename);
            println!("date       {}", i.date);
            println!("lsu        {}", i.lsu);
            println!("size       {} ({} bytes)", fmt::size(i.size), i.size);
            println!("flags      {}", fmt::image_flags(i.flags));
            println!("created    {}", i.created);
            match i.worm_until {
                0 => println!("locked     no"),
                until if i.flags & STS_II_WORM_LOCKED != 0 => println!("locked     until {until} (WORM)"),
                until => println!("locked     no (its lock expired at {until})"),
            }
            Ok(())
        }
        Command::Unlock(args) => {
            let server = session::open(plugin, &args.image.lsu.server)?;
            let date = resolve_date_to_change(&server, &args.image, "unlocking")?;
            let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
            let who = format!("{user} (vastost unlock): {}", args.reason);
            server.release_image_lock(&args.image.lsu.lsu, &args.image.image, &date, &who)?;
            eprintln!("released the lock of {}/{}", args.image.image, date);
            Ok(())
        }
        Command::Audit(args) => {
            let server = session::open(plugin, &args.server)?;
            let trail = server.lsu_audit(&args.lsu)?;
            println!("{:<20}  {:<20}  {:<20}  {:<28}  {:<24}  FROM", "WHEN", "ACTION", "LOCKED UNTIL", "IMAGE", "WHO");
            for line in trail.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                let [time, until, action, basename, date, who, host, pid] = f[..] else { continue };
                let when = |t: &str| fmt::time(t.parse().unwrap_or(0));
                println!(
                    "{:<20}  {action:<20}  {:<20}  {:<28}  {who:<24}  {host} (pid {pid})",
                    when(time),
                    when(until),
                    format!("{basename}/{date}")
                );
            }
            eprintln!("{} release(s) in LSU {}", trail.lines().count(), args.lsu);
            Ok(())
        }
        Command::Untamper(args) => {
            let server = session::open(plugin, &args.lsu.server)?;
            let date = resolve_date(&server, args)?;
            let report = server.image_tampered(&args.lsu.lsu, &args.image, &date, true)?;
            print!("{report}");
            let kept = report.lines().filter(|l| l.starts_with("kept")).count();
            let removed = report.lines().filter(|l| l.starts_with("removed")).count();
            eprintln!("{}/{date}: {removed} removed, {kept} kept", args.image);
            if kept > 0 {
                anyhow::bail!("{kept} object version(s) added behind the lock could not be removed with these keys");
            }
            Ok(())
        }
        Command::Lock(args) => {
            let server = session::open(plugin, &args.image.lsu.server)?;
            let date = resolve_date_to_change(&server, &args.image, "locking")?;
            let until = match (args.until, args.for_) {
                (Some(until), _) => until,
                (None, Some(secs)) => crate::dates::now_secs().saturating_add(secs),
                (None, None) => unreachable!("clap requires --for or --until"),
            };
            server.lock_image(&args.image.lsu.lsu, &args.image.image, &date, until)?;
            eprintln!("locked {}/{} until {until}", args.image.image, date);
            Ok(())
        }
        Command::Delete(args) => {
            let server = session::open(plugin, &args.lsu.server)?;
            let date = resolve_date_to_change(&server, args, "deleting")?;
            server.delete_image(&args.lsu.lsu, &args.image, &date)?;
            eprintln!("deleted {}/{}", args.image, date);
            Ok(())
        }
        Command::Backup(args) => backup(plugin, args),
        Command::Restore(args) => restore(plugin, args),
        Command::Verify(args) => verify(plugin, args),
        Command::VerifyLsu(args) => crate::scan::verify_lsu(plugin, args),
        Command::Check(args) => crate::check::run(plugin, args),
        Command::Copy(args) => crate::copies::copy(plugin, args),
        Command::Synth(args) => crate::copies::synth(plugin, args),
        Command::Events(args) => crate::copies::events(plugin, args),
        Command::Reclaim(args) => crate::copies::reclaim(plugin, args),
        #[cfg(feature = "lab")]
        Command::Demo(_) | Command::Bench(_) | Command::Sim(_) => unreachable!("handled before loading the plugin"),
        Command::Setup(_) | Command::SupportBundle(_) | Command::Stats(_) => {
            unreachable!("handled before loading the plugin")
        }
    }
}

fn server_info(server: &Server<'_>) -> Result<()> {
    let i = server.info()?;
    println!("server     {}", i.name);
    println!("version    {}", i.version);
    println!("location   {}", i.location);
    println!("flags      {}", fmt::server_flags(i.flags));
    for (bit, name) in fmt::CAPABILITIES {
        println!("  {:<20} {}", name, if i.has(bit) { "supported" } else { "not supported" });
    }
    Ok(())
}

fn backup(plugin: &Plugin, args: &BackupArgs) -> Result<()> {
    let server = session::open(plugin, &args.image.lsu.server)?;
    let date = args.image.date.clone().unwrap_or_else(now_date);
    let (mut src, total): (Box<dyn Read>, Option<u64>) = if args.input == Path::new("-") {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 20, f)), len)
    };
    let bar = progress(total, "backup");
    let t = transfer::backup(
        &server,
        &args.image.lsu.lsu,
        &args.image.image,
        &date,
        &mut src,
        args.block.0 as usize,
        &bar,
    )?;
    bar.finish_and_clear();
    eprintln!(
        "backed up {} into {}/{} at {}",
        fmt::size(t.bytes),
        args.image.image,
        date,
        fmt::rate(t.bytes, t.elapsed)
    );
    Ok(())
}

fn proof(as_stored: bool) -> Proof {
    if as_stored { Proof::AsStored } else { Proof::Required }
}

fn restore(plugin: &Plugin, args: &RestoreArgs) -> Result<()> {
    let server = session::open(plugin, &args.image.lsu.server)?;
    let date = resolve_date(&server, &args.image)?;
    let bar = progress(None, "restore");
    let (lsu, image, block) = (&args.image.lsu.lsu, &args.image.image, args.block.0 as usize);
    let t = if args.output == Path::new("-") {
        let mut sink = io::stdout().lock();
        transfer::restore(&server, lsu, image, &date, &mut sink, block, proof(args.as_stored), &bar)?
    } else {
        let mut out = PartialFile::create(&args.output)?;
        let t = transfer::restore(&server, lsu, image, &date, out.writer(), block, proof(args.as_stored), &bar)?;
        out.finish()?;
        t
    };
    bar.finish_and_clear();
    eprintln!("restored {} from {}/{} at {}", fmt::size(t.bytes), image, date, fmt::rate(t.bytes, t.elapsed));
    Ok(())
}

/// A restore's output file, written under a temporary name beside its
/// destination and renamed into place only when [`PartialFile::finish`]
/// is called: a failed restore leaves no file that looks like a result
/// (and an older file of that name untouched). A destination that exists
/// and is not a regular file (`/dev/null`, a pipe, a tape device) is
/// written in place: renaming over it would replace the device with a file.
struct PartialFile {
    /// The temporary file to rename to the destination; `None` when the
    /// destination is written in place.
    temp: Option<std::path::PathBuf>,
    dest: std::path::PathBuf,
    out: Option<BufWriter<File>>,
}

impl PartialFile {
    fn create(dest: &Path) -> Result<Self> {
        let special = std::fs::metadata(dest).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(dest)
                .with_context(|| format!("cannot open {}", dest.display()))?;
            let out = Some(BufWriter::with_capacity(1 << 20, f));
            return Ok(PartialFile { temp: None, dest: dest.to_path_buf(), out });
        }
        let name = dest.file_name().with_context(|| format!("{} is not a file name", dest.display()))?;
        let temp = dest.with_file_name(format!(".{}.vastost-partial-{}", name.to_string_lossy(), std::process::id()));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        Ok(PartialFile { temp: Some(temp), dest: dest.to_path_buf(), out: Some(BufWriter::with_capacity(1 << 20, f)) })
    }

    fn writer(&mut self) -> &mut dyn Write {
        self.out.as_mut().expect("open until finished")
    }

    fn finish(mut self) -> Result<()> {
        let out = self.out.take().expect("open until finished");
        let f = out.into_inner().map_err(|e| e.into_error()).context("cannot write the restored data")?;
        let Some(temp) = &self.temp else { return Ok(()) };
        f.sync_all().context("cannot write the restored data")?;
        std::fs::rename(temp, &self.dest)
            .with_context(|| format!("cannot rename {} to {}", temp.display(), self.dest.display()))
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let (Some(_), Some(temp)) = (&self.out, &self.temp) {
            let _ = std::fs::remove_file(temp);
        }
    }
}

fn verify(plugin: &Plugin, args: &VerifyArgs) -> Result<()> {
    let server = session::open(plugin, &args.image.lsu.server)?;
    let date = resolve_date(&server, &args.image)?;
    let bar = progress(None, "verify");
    let lsu = &args.image.lsu.lsu;
    let proof = proof(args.as_stored);
    let t = match &args.against {
        Some(path) => {
            let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let mut cmp = Compare::new(BufReader::with_capacity(1 << 20, f));
            let t = transfer::restore(&server, lsu, &args.image.image, &date, &mut cmp, 1 << 20, proof, &bar)?;
            if let Some(at) = cmp.finish()? {
                return Err(Mismatch(format!("image differs from {} at byte {at}", path.display())).into());
            }
            t
        }
        None => transfer::restore(&server, lsu, &args.image.image, &date, &mut io::sink(), 1 << 20, proof, &bar)?,
    };
    bar.finish_and_clear();
    println!(
        "verified {}/{}: {} read, every checksum correct{} ({})",
        args.image.image,
        date,
        fmt::size(t.bytes),
        if args.against.is_some() { ", identical to the file" } else { "" },
        fmt::rate(t.bytes, t.elapsed)
    );
    let tampered = server.image_tampered(lsu, &args.image.image, &date, false)?;
    if !tampered.is_empty() {
        print!("{tampered}");
        return Err(crate::exit::Tampered(format!(
            "{}/{date}: tampered, restorable from the locked versions: {} object version(s) written behind its lock (vastost untamper removes them)",
            args.image.image,
            tampered.lines().count()
        ))
        .into());
    }
    Ok(())
}
