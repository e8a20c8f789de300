//! Copies, virtual images, events and reclamation.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use vastost_loader::{Plugin, Server};
use vastost_ost::*;

use crate::args::{CopyArgs, EventsArgs, ReclaimArgs, SynthArgs};
use crate::dates::{newest_date, now_date, resolve_date};
use crate::{fmt, session};

/// `vastost copy`.
pub fn copy(plugin: &Plugin, args: &CopyArgs) -> Result<()> {
    let lsu_args = &args.image.lsu;
    let server = session::open(plugin, &lsu_args.server)?;
    let date = resolve_date(&server, &args.image)?;
    let target = match &args.to_server {
        Some(name) => {
            let password = session::password(&lsu_args.server)?;
            let cred = lsu_args.server.user.as_deref().map(|u| (u, password.as_str()));
            Some(server.open_target(name, cred).with_context(|| format!("cannot open target server {name}"))?)
        }
        None => None,
    };
    let to = target.as_ref().unwrap_or(&server);
    let to_lsu = args.to_lsu.as_deref().unwrap_or(&lsu_args.lsu);
    let to_date = args.to_date.clone().unwrap_or_else(|| date.clone());
    let size = server.image_info(&lsu_args.lsu, &args.image.image, &date)?.size;
    let start = Instant::now();
    server.copy_image(&lsu_args.lsu, (&args.image.image, &date), to, to_lsu, (&args.to_image, &to_date))?;
    let took = start.elapsed();
    eprintln!(
        "copied {}/{} ({}) to {}:{}/{}/{} in {:.3} s ({})",
        args.image.image,
        date,
        fmt::size(size),
        args.to_server.as_deref().unwrap_or(&lsu_args.server.server),
        to_lsu,
        args.to_image,
        to_date,
        took.as_secs_f64(),
        if args.to_server.is_none() { "by reference".to_string() } else { fmt::rate(size, took) }
    );
    Ok(())
}

/// One `--from` range of `vastost synth`.
#[derive(Debug, PartialEq, Eq)]
struct Range {
    image: String,
    date: Option<String>,
    offset: u64,
    /// `None`: to the image's end.
    length: Option<u64>,
}

fn parse_size(text: &str) -> Result<u64> {
    text.parse::<bytesize::ByteSize>().map(|b| b.as_u64()).map_err(|e| anyhow!("bad size {text:?}: {e}"))
}

fn parse_range(text: &str) -> Result<Range> {
    let mut parts = text.rsplitn(3, ':');
    let (length, offset, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(o), Some(n)) if !n.is_empty() => (l, o, n),
        _ => bail!("range {text:?} is not IMAGE[/DATE]:OFFSET:LENGTH"),
    };
    let (image, date) = match name.split_once('/') {
        Some((i, d)) => (i.to_string(), Some(d.to_string())),
        None => (name.to_string(), None),
    };
    let length = if length == "rest" { None } else { Some(parse_size(length)?) };
    Ok(Range { image, date, offset: parse_size(offset)?, length })
}

/// `vastost synth`.
pub fn synth(plugin: &Plugin, args: &SynthArgs) -> Result<()> {
    let ranges = args.ranges.iter().map(|r| parse_range(r)).collect::<Result<Vec<_>>>()?;
    let lsu = &args.image.lsu.lsu;
    let server = session::open(plugin, &args.image.lsu.server)?;
    let date = args.image.date.clone().unwrap_or_else(now_date);
    // Every source is found before the target exists.
    let mut sources = Vec::new();
    for r in &ranges {
        let src_date = match &r.date {
            Some(d) => d.clone(),
            None => newest_date(&server, lsu, &r.image)?,
        };
        let source = server.open_image(lsu, &r.image, &src_date, STS_O_READ)?;
        let length = match r.length {
            Some(l) => l,
            None => source.info()?.size.checked_sub(r.offset).ok_or_else(|| anyhow!("{} is shorter", r.image))?,
        };
        sources.push((source, r, length));
    }
    let target = server.create_image(lsu, &args.image.image, &date)?;
    let mut at = 0u64;
    let built = sources.iter().try_for_each(|(source, r, length)| {
        source
            .include_into(&target, r.offset, at, *length)
            .with_context(|| format!("cannot include {}:{}:{length}", r.image, r.offset))?;
        at += length;
        Ok::<_, anyhow::Error>(())
    });
    if let Err(e) = built {
        // Leave nothing behind: the half-built image goes.
        target.close(false)?;
        server.delete_image(lsu, &args.image.image, &date)?;
        return Err(e);
    }
    // The content record a restore proves the bytes with: the ranges'
    // bytes are read (not copied) for their checksum.
    let mut crc = 0u32;
    let mut buf = vec![0u8; 1 << 20];
    for (source, r, length) in &mut sources {
        let mut done = 0u64;
        while done < *length {
            let want = ((*length - done) as usize).min(buf.len());
            let n = source.read(&mut buf[..want], r.offset + done)? as usize;
            if n == 0 {
                bail!("{} ended before {}:{}", r.image, r.offset, *length);
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            done += n as u64;
        }
    }
    let mut target = target;
    crate::transfer::write_content_meta(&mut target, crate::transfer::ContentMeta { content_length: at, crc32c: crc })?;
    target.close(true)?;
    eprintln!("created {}/{date} ({}) from {} range(s), no data copied", args.image.image, fmt::size(at), ranges.len());
    Ok(())
}

fn event_kind(kind: u32) -> &'static str {
    match kind {
        STS_EVT_IMAGE_CREATED => "created",
        STS_EVT_IMAGE_DELETED => "deleted",
        STS_EVT_COPY_DONE => "copied",
        STS_EVT_REPLICATION => "replicated",
        _ => "unknown",
    }
}

/// `vastost events`.
pub fn events(plugin: &Plugin, args: &EventsArgs) -> Result<()> {
    let server = session::open(plugin, &args.server)?;
    let mut channel = server.events()?;
    let mut n = 0;
    println!("{:<12} {:<10} {:<20} {:<40} {:<12} {:>14}", "time", "event", "lsu", "basename", "date", "size");
    while let Some(e) = channel.next_event()? {
        let i = &e.image;
        println!(
            "{:<12} {:<10} {:<20} {:<40} {:<12} {:>14}",
            e.time,
            event_kind(e.kind),
            i.lsu,
            i.basename,
            i.date,
            i.size
        );
        if args.delete {
            channel.delete(&e)?;
        }
        n += 1;
    }
    eprintln!("{n} event(s){}", if args.delete { ", deleted" } else { "" });
    Ok(())
}

/// `vastost reclaim`.
pub fn reclaim(plugin: &Plugin, args: &ReclaimArgs) -> Result<()> {
    let server: Server<'_> = session::open(plugin, &args.server)?;
    let start = Instant::now();
    let r = server.reclaim(args.lsu.as_deref(), args.grace, args.older_than)?;
    println!("images checked   {}", r.vr_images_checked);
    println!("images removed   {}", r.vr_images_removed);
    println!("images kept      {} (deleted, still referenced)", r.vr_images_kept);
    println!("images skipped   {} (being written, or pending and younger than the abandon age)", r.vr_images_skipped);
    println!("images abandoned {} (pending too long: data past the last checkpoint freed)", r.vr_images_abandoned);
    println!("images damaged   {} (data without a commit record: left for inspection)", r.vr_images_damaged);
    println!("uploads aborted  {} (incomplete S3 multipart uploads)", r.vr_uploads_aborted);
    println!("fragments freed  {}", r.vr_fragments_freed);
    println!("bytes freed      {} ({} bytes)", fmt::size(r.vr_bytes_freed), r.vr_bytes_freed);
    if r.vr_fragments_kept_locked > 0 {
        let until = match r.vr_kept_until {
            0 => String::new(),
            t => format!(", locks expire by {t} (in {})", fmt::span(t.saturating_sub(crate::dates::now_secs()))),
        };
        println!(
            "fragments kept   {} (locked on the storage: freed once their locks expire{until})",
            r.vr_fragments_kept_locked
        );
    }
    println!("records removed  {} (superseded commit records of locked images, once expired)", r.vr_records_removed);
    println!("events expired   {}", r.vr_events_expired);
    if r.vr_more != 0 {
        println!("pass incomplete  (reclaim_max_images reached: the next run goes on from there)");
    }
    eprintln!("reclaimed in {:.3} s", start.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        let r = parse_range("full/123:4MiB:rest").unwrap();
        assert_eq!(r, Range { image: "full".into(), date: Some("123".into()), offset: 4 << 20, length: None });
        let r = parse_range("a:b:0:512").unwrap();
        assert_eq!(r, Range { image: "a:b".into(), date: None, offset: 0, length: Some(512) });
        assert!(parse_range("x:1").is_err());
        assert!(parse_range(":0:1").is_err());
        assert!(parse_range("x:0:lots").is_err());
    }
}
