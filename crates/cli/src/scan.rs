//! `vastost verify-lsu`: every image of an LSU read end to end against its
//! checksums, every damaged range reported (a read that fails its checksum
//! is skipped, not the rest of the image). Images whose commit records or
//! metadata are damaged or lost are reported as unreadable.

use anyhow::Result;
use vastost_loader::{ImageInfo, Plugin, Server};
use vastost_ost::sts_status::{STS_EINTEGRITY, STS_ENEWERFORMAT};
use vastost_ost::*;

use crate::args::LsuArgs;
use crate::exit::Mismatch;
use crate::{fmt, session};

/// Bytes checked per read.
const STEP: usize = 1 << 20;

/// What the scan of one image found.
enum Verdict {
    Good,
    Damaged(Vec<(u64, u64)>),
    Unreadable(String),
    /// Written by a newer plugin: not read, not damage.
    Newer(String),
}

fn scan(server: &Server<'_>, lsu: &str, image: &ImageInfo) -> Verdict {
    let mut img = match server.open_image(lsu, &image.basename, &image.date, STS_O_READ) {
        Ok(img) => img,
        Err(e) if e.code() == Some(STS_ENEWERFORMAT) => return Verdict::Newer(e.to_string()),
        Err(e) => return Verdict::Unreadable(e.to_string()),
    };
    let mut buf = vec![0u8; STEP];
    // Metadata holds what a restore needs besides the bytes (NetBackup's
    // header, vastost's content record): losing it is damage too.
    if let Err(e) = img.read_meta(&mut buf, 0) {
        return Verdict::Unreadable(format!("metadata: {e}"));
    }
    let mut bad: Vec<(u64, u64)> = Vec::new();
    let mut off = 0u64;
    while off < image.size {
        match img.read(&mut buf, off) {
            Ok(0) => break,
            Ok(n) => off += n,
            Err(e) if e.code() == Some(STS_EINTEGRITY) => {
                let end = (off + STEP as u64).min(image.size);
                match bad.last_mut() {
                    Some(last) if last.1 == off => last.1 = end,
                    _ => bad.push((off, end)),
                }
                off = end;
            }
            Err(e) => return Verdict::Unreadable(format!("at byte {off}: {e}")),
        }
    }
    if bad.is_empty() { Verdict::Good } else { Verdict::Damaged(bad) }
}

/// Runs `vastost verify-lsu`.
pub fn verify_lsu(plugin: &Plugin, args: &LsuArgs) -> Result<()> {
    let server = session::open(plugin, &args.server)?;
    let images = server.images(&args.lsu)?;
    let (mut good, mut damaged, mut skipped, mut bytes) = (0, 0, 0, 0u64);
    let (mut tampered, mut newer) = (0, 0);
    for image in &images {
        let name = format!("{}/{}", image.basename, image.date);
        if image.flags & STS_II_IMAGE_PENDING != 0 {
            println!("{name:<52} skipped (not complete)");
            skipped += 1;
            continue;
        }
        match scan(&server, &args.lsu, image) {
            Verdict::Good => {
                let added = server.image_tampered(&args.lsu, &image.basename, &image.date, false)?;
                if added.is_empty() {
                    println!("{name:<52} ok ({})", fmt::size(image.size));
                } else {
                    tampered += 1;
                    println!("{name:<52} TAMPERED, restorable from the locked versions ({})", fmt::size(image.size));
                    for line in added.lines() {
                        println!("    {line}");
                    }
                }
                good += 1;
                bytes += image.size;
            }
            Verdict::Damaged(ranges) => {
                damaged += 1;
                for (a, b) in ranges {
                    println!("{name:<52} DAMAGED bytes {a}..{b} ({})", fmt::size(b - a));
                }
            }
            Verdict::Unreadable(why) => {
                damaged += 1;
                println!("{name:<52} UNREADABLE {why}");
            }
            Verdict::Newer(why) => {
                newer += 1;
                println!("{name:<52} NEWER FORMAT, not verified: {why}");
            }
        }
    }
    eprintln!(
        "{} image(s): {good} verified ({}), {tampered} tampered, {damaged} damaged, {newer} of a newer format, {skipped} skipped",
        images.len(),
        fmt::size(bytes)
    );
    if damaged > 0 {
        return Err(Mismatch(format!("{damaged} image(s) of LSU {} failed verification", args.lsu)).into());
    }
    if newer > 0 {
        return Err(crate::exit::NewerFormat(format!(
            "{newer} image(s) of LSU {} were written by a newer plugin and not verified (upgrade this media server to verify them)",
            args.lsu
        ))
        .into());
    }
    if tampered > 0 {
        return Err(crate::exit::Tampered(format!(
            "{tampered} locked image(s) of LSU {} have objects written behind their lock (vastost untamper removes them)",
            args.lsu
        ))
        .into());
    }
    Ok(())
}
