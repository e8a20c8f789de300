//! Image dates: the one given, the newest of a basename, or now.

use anyhow::{Result, anyhow};
use vastost_loader::{ImageInfo, Server};
use vastost_ost::STS_II_IMAGE_PENDING;

use crate::args::ImageArgs;

/// The date given, or that of the newest complete image of the basename
/// (what a restore, verify, copy or listing of one image means without a
/// date).
pub(crate) fn resolve_date(server: &Server<'_>, args: &ImageArgs) -> Result<String> {
    match &args.date {
        Some(d) => Ok(d.clone()),
        None => newest_date(server, &args.lsu.lsu, &args.image),
    }
}

/// The date given, or that of the only image of the basename: a command
/// that changes an image (delete, lock, unlock) never guesses among
/// several. The image chosen is named before anything is done to it.
pub(crate) fn resolve_date_to_change(server: &Server<'_>, args: &ImageArgs, verb: &str) -> Result<String> {
    if let Some(d) = &args.date {
        return Ok(d.clone());
    }
    let (lsu, basename) = (&args.lsu.lsu, &args.image);
    let mut dates: Vec<String> = images_named(server, lsu, basename)?.into_iter().map(|i| i.date).collect();
    dates.sort();
    match dates.as_slice() {
        [only] => {
            eprintln!("{verb} {basename}/{only} (its only image)");
            Ok(only.clone())
        }
        several => Err(anyhow!(
            "{} images are named {basename} on LSU {lsu} (dates {}): say which with --date",
            several.len(),
            several.join(", ")
        )),
    }
}

/// The date of the newest complete image named `basename` on `lsu`, by
/// creation time, never by how its date is spelt. Pending images (being
/// written, or left by a crashed backup) are never chosen.
pub(crate) fn newest_date(server: &Server<'_>, lsu: &str, basename: &str) -> Result<String> {
    newest_complete(&images_named(server, lsu, basename)?).map_err(|e| anyhow!("{e} on LSU {lsu}"))
}

/// The date given, or that of the newest complete image of the basename,
/// or, when it has none, of its newest pending one: what `image-info`
/// shows (it reads no data, and a pending image's state is worth seeing).
pub(crate) fn resolve_date_for_info(server: &Server<'_>, args: &ImageArgs) -> Result<String> {
    if let Some(d) = &args.date {
        return Ok(d.clone());
    }
    let (lsu, basename) = (&args.lsu.lsu, &args.image);
    let images = images_named(server, lsu, basename)?;
    if !images.iter().all(pending) {
        return newest_complete(&images).map_err(|e| anyhow!("{e} on LSU {lsu}"));
    }
    let newest = images.iter().max_by_key(|i| i.created).map(|i| i.date.clone());
    newest.ok_or_else(|| anyhow!("no image named {basename} on LSU {lsu}"))
}

/// The images of `lsu` named `basename` (at least one; none is an error),
/// found without listing the LSU.
fn images_named(server: &Server<'_>, lsu: &str, basename: &str) -> Result<Vec<ImageInfo>> {
    let images = server.image_dates(lsu, basename)?;
    if images.is_empty() {
        return Err(anyhow!("no image named {basename} on LSU {lsu}"));
    }
    Ok(images)
}

/// Whether an image is pending (being written, or left by a crash).
fn pending(i: &ImageInfo) -> bool {
    i.flags & STS_II_IMAGE_PENDING != 0
}

/// [`newest_date`] over `images` (all of one basename, at least one).
fn newest_complete(images: &[ImageInfo]) -> Result<String, String> {
    let (waiting, complete): (Vec<&ImageInfo>, Vec<&ImageInfo>) = images.iter().partition(|i| pending(i));
    let Some(newest) = complete.iter().map(|i| i.created).max() else {
        return Err(match waiting.iter().max_by_key(|i| i.created) {
            Some(p) => format!(
                "{} has no complete image; newest pending: {}, created {} ({} ago)",
                p.basename,
                p.date,
                p.created,
                crate::fmt::span(now_secs().saturating_sub(p.created))
            ),
            None => "no image of that name".to_string(),
        });
    };
    let mut tied: Vec<&str> = complete.iter().filter(|i| i.created == newest).map(|i| i.date.as_str()).collect();
    tied.sort();
    match tied.as_slice() {
        [one] => Ok(one.to_string()),
        several => Err(format!(
            "{} complete images of {} were created in the same second (dates {}): say which with --date",
            several.len(),
            complete[0].basename,
            several.join(", ")
        )),
    }
}

/// Now, in seconds since the epoch: the date of a new image by default.
pub(crate) fn now_date() -> String {
    now_secs().to_string()
}

/// Now, in seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(date: &str, created: u64, pending: bool) -> ImageInfo {
        ImageInfo {
            basename: "crash".into(),
            date: date.into(),
            lsu: "l".into(),
            size: 0,
            flags: if pending { STS_II_IMAGE_PENDING } else { 0 },
            created,
            worm_until: 0,
        }
    }

    #[test]
    fn a_pending_image_is_never_the_newest_whatever_its_date_or_time() {
        // Created in the same second, and later; dates that sort after.
        let images = [image("k1", 100, true), image("k3", 101, true), image("full", 101, false), image("a", 90, false)];
        assert_eq!(newest_complete(&images).unwrap(), "full");
    }

    #[test]
    fn the_creation_time_decides_not_the_spelling_of_the_date() {
        let images = [image("zzz", 100, false), image("aaa", 200, false)];
        assert_eq!(newest_complete(&images).unwrap(), "aaa");
    }

    #[test]
    fn only_pending_images_are_named_as_such() {
        let err = newest_complete(&[image("k1", 100, true), image("k3", 105, true)]).unwrap_err();
        assert!(err.starts_with("crash has no complete image; newest pending: k3, created"), "{err}");
    }

    #[test]
    fn complete_images_of_one_second_are_not_guessed_between() {
        let err = newest_complete(&[image("b", 100, false), image("a", 100, false)]).unwrap_err();
        assert!(err.contains("dates a, b"), "{err}");
    }
}
