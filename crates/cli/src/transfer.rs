//! Backup, restore and verify loops over the plugin's image calls, shared by
//! the commands, the demo and the benchmark.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use vastost_loader::{Image, Server};
use vastost_ost::{STS_BLOCK_SIZE, STS_O_READ};

use crate::exit::Mismatch;

/// What `vastost` records in the metadata of each image it writes, so that
/// a restore gives back exactly the bytes of the source (the image itself
/// is padded to whole 512-byte blocks) and `verify` can check them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContentMeta {
    /// Bytes of the source.
    pub content_length: u64,
    /// CRC32C of the source.
    pub crc32c: u32,
}

const META_TAG: &str = "vastost";

/// Figures of one transfer.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// Content bytes moved.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// A progress bar on standard error (hidden when it is not a terminal).
pub fn progress(total: Option<u64>, label: &str) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        "{msg:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg:>8} {bytes} {bytes_per_sec}"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar.set_message(label.to_string());
    bar
}

fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes everything `src` yields into `image` from offset `start`, in
/// calls of `block` bytes; the last block is padded with zeros to 512
/// bytes. Returns the content bytes and their CRC32C (continuing `crc`).
pub fn write_stream(
    image: &mut Image<'_>,
    src: &mut dyn Read,
    start: u64,
    block: usize,
    mut crc: u32,
    bar: &ProgressBar,
) -> Result<(u64, u32)> {
    let block = block.max(STS_BLOCK_SIZE as usize).next_multiple_of(STS_BLOCK_SIZE as usize);
    let mut buf = vec![0u8; block];
    let (mut offset, mut content) = (start, 0u64);
    loop {
        let n = read_full(src, &mut buf).context("cannot read the backup source")?;
        if n == 0 {
            break;
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        let padded = n.next_multiple_of(STS_BLOCK_SIZE as usize);
        buf[n..padded].fill(0);
        image.write(&buf[..padded], offset).with_context(|| format!("write_image at offset {offset} failed"))?;
        offset += padded as u64;
        content += n as u64;
        bar.inc(n as u64);
        if n < block {
            break;
        }
    }
    Ok((content, crc))
}

/// Records the content length and checksum in the image's metadata.
pub fn write_content_meta(image: &mut Image<'_>, meta: ContentMeta) -> Result<()> {
    let text = serde_json::json!({ META_TAG: meta }).to_string();
    image.write_meta(text.as_bytes(), 0).context("write_image_meta failed")?;
    Ok(())
}

/// What an image's metadata says of its content.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    /// `vastost` recorded its length and checksum.
    Recorded(ContentMeta),
    /// The image has no metadata at all, so never had a record: images
    /// `vastost synth` made before stored format 2 (which wrote none).
    NeverRecorded,
    /// Metadata of another program (NetBackup's header), no record of ours.
    Foreign,
}

/// Reads the content record of an image, if `vastost` wrote it. A lost
/// metadata object is not "no record": the plugin reports it as damage.
pub fn read_content_meta(image: &mut Image<'_>) -> Result<Content> {
    let mut buf = vec![0u8; 64 << 10];
    let n = image.read_meta(&mut buf, 0).context("read_image_meta failed")? as usize;
    if n == 0 {
        return Ok(Content::NeverRecorded);
    }
    let value: Option<serde_json::Value> = serde_json::from_slice(&buf[..n]).ok();
    let record = value.and_then(|v| v.get(META_TAG).and_then(|m| serde_json::from_value(m.clone()).ok()));
    Ok(record.map_or(Content::Foreign, Content::Recorded))
}

/// Backs up `src` into a new image and closes it complete. The source is
/// read before the image is created, so a source that cannot be read
/// leaves nothing behind; an image whose backup fails later is deleted.
pub fn backup(
    server: &Server<'_>,
    lsu: &str,
    basename: &str,
    date: &str,
    src: &mut dyn Read,
    block: usize,
    bar: &ProgressBar,
) -> Result<Transfer> {
    let started = Instant::now();
    let mut first = [0u8; STS_BLOCK_SIZE as usize];
    let n = read_full(src, &mut first).context("cannot read the backup source")?;
    let mut src = io::Read::chain(&first[..n], src);
    let mut image = server.create_image(lsu, basename, date).context("create_image failed")?;
    let written = write_stream(&mut image, &mut src, 0, block, 0, bar).and_then(|(bytes, crc)| {
        write_content_meta(&mut image, ContentMeta { content_length: bytes, crc32c: crc })?;
        Ok(bytes)
    });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            drop(image);
            if let Err(d) = server.delete_image(lsu, basename, date) {
                eprintln!("vastost: the failed backup's image {basename}/{date} could not be removed: {d}");
            }
            return Err(e);
        }
    };
    image.close(true).context("close_image (complete) failed")?;
    Ok(Transfer { bytes, elapsed: started.elapsed() })
}

/// How a restore treats an image without a content record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The image must carry vastost's content record (length and CRC32C):
    /// without one, nothing is restored and the restore fails (exit 3).
    Required,
    /// Without a record, restore the image's bytes as stored (padded to
    /// 512-byte blocks), saying so.
    AsStored,
}

/// Reads a complete image into `sink`, giving back the content bytes only,
/// and checks them against the recorded checksum.
#[allow(clippy::too_many_arguments)]
pub fn restore(
    server: &Server<'_>,
    lsu: &str,
    basename: &str,
    date: &str,
    sink: &mut dyn Write,
    block: usize,
    proof: Proof,
    bar: &ProgressBar,
) -> Result<Transfer> {
    let started = Instant::now();
    let mut image = server.open_image(lsu, basename, date, STS_O_READ).context("open_image (read) failed")?;
    let meta = read_content_meta(&mut image)?;
    let size = image.info().context("get_image_prop failed")?.size;
    let content = match (meta, proof) {
        (Content::Recorded(m), _) if m.content_length <= size => m.content_length,
        (Content::Recorded(m), _) => {
            return Err(Mismatch(format!(
                "image {basename}/{date}: its content record says {} bytes, but the image holds {size}",
                m.content_length
            ))
            .into());
        }
        (Content::NeverRecorded, _) => {
            eprintln!(
                "vastost: note: image {basename}/{date} has no metadata, so no whole-image content record (images \
                 made by `vastost synth` before stored format 2 have none): its {size} bytes are given as stored, \
                 every chunk checked against its CRC32C on the way"
            );
            size
        }
        (Content::Foreign, Proof::AsStored) => {
            eprintln!(
                "vastost: warning: image {basename}/{date} has no content record: restoring its {size} bytes as \
                 stored (padded to 512-byte blocks), without a content checksum"
            );
            size
        }
        (Content::Foreign, Proof::Required) => {
            return Err(Mismatch(format!(
                "image {basename}/{date} has no content record (vastost records the length and CRC32C of what it \
                 backs up; this image's metadata was written by another program), so its content cannot be \
                 proven; --as-stored gives its {size} bytes as stored"
            ))
            .into());
        }
    };
    bar.set_length(content);
    let block = block.max(STS_BLOCK_SIZE as usize).next_multiple_of(STS_BLOCK_SIZE as usize);
    let mut buf = vec![0u8; block];
    let (mut offset, mut crc) = (0u64, 0u32);
    while offset < content {
        let n = image.read(&mut buf, offset).with_context(|| format!("read_image at offset {offset} failed"))?;
        if n == 0 {
            bail!("the image ended at {offset} bytes, {content} expected");
        }
        let take = (n.min(content - offset)) as usize;
        crc = crc32c::crc32c_append(crc, &buf[..take]);
        sink.write_all(&buf[..take]).context("cannot write the restored data")?;
        offset += take as u64;
        bar.inc(take as u64);
    }
    sink.flush().context("cannot write the restored data")?;
    image.close(false).context("close_image failed")?;
    if let Content::Recorded(m) = meta
        && m.crc32c != crc
    {
        return Err(Mismatch(format!(
            "restored content checksum {crc:08x} differs from the one recorded at backup {:08x}",
            m.crc32c
        ))
        .into());
    }
    Ok(Transfer { bytes: offset, elapsed: started.elapsed() })
}

/// A sink that compares what it is given with a reference stream and
/// remembers the first differing offset.
pub struct Compare<R: Read> {
    reference: R,
    pos: u64,
    buf: Vec<u8>,
    /// First offset that differs (or where one side ended early).
    pub first_difference: Option<u64>,
}

impl<R: Read> Compare<R> {
    /// Compares against `reference`.
    pub fn new(reference: R) -> Self {
        Compare { reference, pos: 0, buf: Vec::new(), first_difference: None }
    }

    /// Whether the reference also ends here; call after the last write.
    pub fn finish(&mut self) -> io::Result<Option<u64>> {
        let mut extra = [0u8; 1];
        if self.first_difference.is_none() && self.reference.read(&mut extra)? != 0 {
            self.first_difference = Some(self.pos);
        }
        Ok(self.first_difference)
    }
}

impl<R: Read> Write for Compare<R> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.first_difference.is_none() {
            self.buf.resize(data.len(), 0);
            let n = read_full(&mut self.reference, &mut self.buf)?;
            if let Some(i) = data[..n].iter().zip(&self.buf[..n]).position(|(a, b)| a != b) {
                self.first_difference = Some(self.pos + i as u64);
            } else if n < data.len() {
                self.first_difference = Some(self.pos + n as u64);
            }
        }
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
