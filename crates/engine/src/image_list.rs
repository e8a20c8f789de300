//! An LSU's images, a page at a time: `open_image_list` returns after the
//! first image, and `list_image` goes on from there, so the first entry
//! comes as fast on an LSU of a million images as on one of ten, and memory
//! stays bounded. Images are listed in the order of their folder names. A
//! task walks the LSU ahead of the caller, reading many images at once and
//! listing the next page while it does, so that a listing costs about one
//! round trip per [`IN_FLIGHT`] images and never waits for a batch's
//! slowest image; it stops when it is [`IN_FLIGHT`] images ahead, so one
//! created or deleted meanwhile is listed or not, never as damage. Every
//! image's commit record is read: a listing reports damage, it never shows
//! a damaged image as a good one.

use futures_util::{StreamExt, stream};
use tokio::sync::mpsc;

use crate::commit::folders_of;
use crate::error::{EngineError, Result};
use crate::image::ImageInfo;
use crate::layout;
use crate::lsu::Lsu;

/// Image folders (basenames) fetched per listing request.
const PAGE: usize = 1000;
/// Basenames read at once: each costs two or three round trips (its
/// dates, its commit records, the newest record), so a listing's wall time
/// is about a 128th of its requests' latency. Measured, 1,000 images on a
/// simulator 10 ms away, read in batches: 1.62 s at 32 at once, 0.85 s at
/// 64, 0.57 s at 128.
const IN_FLIGHT: usize = 128;

/// What the walking task hands the pager.
#[derive(Debug)]
enum Walked {
    /// The next image, or why it could not be read (the walk goes on).
    Image(Result<ImageInfo>),
    /// The LSU could not be listed further: the walk ends here.
    Failed(EngineError),
    /// Every image was handed over.
    End,
}

/// Walks an LSU's images.
#[derive(Debug)]
pub struct ImagePager {
    lsu: Lsu,
    /// Images read ahead by the walking task, in order.
    walked: mpsc::Receiver<Walked>,
    /// The walking task, stopped when the pager is dropped.
    walk: tokio::task::JoinHandle<()>,
    /// Whether the walk is over, and how: `Ok` after its end, the error
    /// it failed with otherwise (returned again to every later call, so a
    /// listing cut short never looks complete).
    over: Option<Result<()>>,
}

impl Drop for ImagePager {
    fn drop(&mut self) {
        self.walk.abort();
    }
}

impl ImagePager {
    /// A walk over `lsu`'s images, from the first.
    pub fn new(lsu: Lsu) -> Self {
        Self::with_shape(lsu, PAGE, IN_FLIGHT)
    }

    /// A walk listing `page` basenames per request and reading `in_flight`
    /// images at once (and at most that many ahead of the caller).
    fn with_shape(lsu: Lsu, page: usize, in_flight: usize) -> Self {
        let (tx, walked) = mpsc::channel(in_flight);
        let walk = lsu.ctx.rt.spawn(walk(lsu.clone(), page, in_flight, tx));
        ImagePager { lsu, walked, walk, over: None }
    }

    /// The next image, `None` at the end.
    pub fn next_image(&mut self) -> Result<Option<ImageInfo>> {
        if let Some(over) = &self.over {
            return over.clone().map(|()| None);
        }
        let next = self.lsu.ctx.block_on(self.walked.recv());
        match next {
            Some(Walked::Image(image)) => image.map(Some),
            Some(Walked::End) => {
                self.over = Some(Ok(()));
                Ok(None)
            }
            failed => {
                let e = match failed {
                    Some(Walked::Failed(e)) => e,
                    _ => EngineError::Internal(format!("the listing of LSU {} stopped early", self.lsu.ctx.name)),
                };
                self.over = Some(Err(e.clone()));
                Err(e)
            }
        }
    }
}

/// Lists `lsu`'s basenames a page at a time and reads their images,
/// `in_flight` at once, handing them to `tx` in order.
async fn walk(lsu: Lsu, page: usize, in_flight: usize, tx: mpsc::Sender<Walked>) {
    let store = lsu.ctx.store.clone();
    let pages = stream::unfold(Some(String::new()), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            match store.list_page(layout::IMAGES, &after, page).await {
                Ok(entries) => {
                    let next = match entries.last() {
                        Some(last) if entries.len() >= page => Some(last.name.clone()),
                        _ => None,
                    };
                    let bases: Vec<Result<String>> =
                        entries.into_iter().filter(|e| e.is_dir).map(|e| Ok(e.name)).collect();
                    Some((stream::iter(bases), next))
                }
                Err(e) => Some((stream::iter(vec![Err(EngineError::from(e))]), None)),
            }
        }
    });
    let lsu = &lsu;
    let images = pages
        .flatten()
        .map(|base| async move {
            match base {
                Ok(base) => images_of(lsu, base).await.map_err(|e| Walked::Image(Err(e))),
                Err(e) => Err(Walked::Failed(e)),
            }
        })
        .buffered(in_flight);
    let mut images = std::pin::pin!(images);
    while let Some(read) = images.next().await {
        let sent = match read {
            Ok(found) => {
                let mut sent = Ok(());
                for image in found {
                    sent = tx.send(Walked::Image(Ok(image))).await;
                    if sent.is_err() {
                        break;
                    }
                }
                sent
            }
            Err(Walked::Failed(e)) => {
                let _ = tx.send(Walked::Failed(e)).await;
                return;
            }
            Err(other) => tx.send(other).await,
        };
        if sent.is_err() {
            // The pager is gone.
            return;
        }
    }
    let _ = tx.send(Walked::End).await;
}

impl Lsu {
    /// The images of one basename (every date), without listing the LSU.
    pub fn images_named(&self, basename: &str) -> Result<Vec<ImageInfo>> {
        // The rules of a basename, whatever the date.
        crate::names::ImageDef::new(basename, "0")?;
        self.ctx.block_on(images_named(self, basename))
    }
}

/// The images (dates) of basename `basename`, in the order of their
/// folders: one listing of its folder and its dates read at once, however
/// many images the LSU holds.
async fn images_named(lsu: &Lsu, basename: &str) -> Result<Vec<ImageInfo>> {
    let base = crate::names::key_component(basename);
    let folders = folders_of(&lsu.ctx.store, &base).await?;
    let read: Vec<Result<Option<ImageInfo>>> =
        stream::iter(folders).map(|keys| async move { lsu.listed(&keys).await }).buffered(IN_FLIGHT).collect().await;
    let mut out = Vec::new();
    for info in read {
        // A name shortened to fit a key may be another's: only this one.
        out.extend(info?.filter(|i| i.def.basename() == basename));
    }
    Ok(out)
}

/// The images (dates) of basename folder `base`, in order.
async fn images_of(lsu: &Lsu, base: String) -> Result<Vec<ImageInfo>> {
    let mut out = Vec::new();
    for keys in folders_of(&lsu.ctx.store, &base).await? {
        out.extend(lsu.listed(&keys).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ImageDef;

    #[test]
    fn pages_neither_repeat_nor_skip_and_deletes_meanwhile_are_no_errors() {
        let env = crate::tests::env(64 << 20);
        for lsu in &env.lsus {
            let names: Vec<String> = (0..23).map(|i| format!("client{i:02}")).collect();
            for (i, n) in names.iter().enumerate() {
                let mut w = lsu.create_image(&ImageDef::new(n, "1").unwrap()).unwrap();
                w.write(&[i as u8; 512], 0).unwrap();
                w.close(true).unwrap();
            }
            // One image at a time, so that the walk is never more than a
            // few images ahead of the caller.
            let mut pager = ImagePager::with_shape(lsu.clone(), 5, 1);
            let mut seen = Vec::new();
            while let Some(info) = pager.next_image().unwrap() {
                // Images ahead of the walk go away meanwhile.
                if seen.len() == 7 {
                    for gone in &names[15..18] {
                        lsu.delete_image(&ImageDef::new(gone, "1").unwrap()).unwrap();
                    }
                }
                assert!(info.unreadable.is_none(), "{info:?}");
                seen.push(info.def.basename().to_string());
            }
            let expected: Vec<String> =
                names.iter().enumerate().filter(|(i, _)| !(15..18).contains(i)).map(|(_, n)| n.clone()).collect();
            assert_eq!(seen, expected);
        }
    }
}

#[cfg(test)]
mod cut_short {
    use super::*;
    use crate::names::ImageDef;

    #[test]
    fn a_listing_that_cannot_go_on_never_looks_complete() {
        let env = crate::tests::env(64 << 20);
        // The directory store: its image folder is swapped for a file.
        let lsu = &env.lsus[1];
        for i in 0..12 {
            let mut w = lsu.create_image(&ImageDef::new(&format!("client{i:02}"), "1").unwrap()).unwrap();
            w.write(&[i as u8; 512], 0).unwrap();
            w.close(true).unwrap();
        }
        let mut pager = ImagePager::with_shape(lsu.clone(), 5, 1);
        assert!(pager.next_image().unwrap().is_some());
        let images = env.dir.path().join(layout::IMAGES.trim_end_matches('/'));
        std::fs::rename(&images, env.dir.path().join("moved")).unwrap();
        std::fs::write(&images, b"not a folder").unwrap();
        let mut errors = 0;
        for _ in 0..30 {
            match pager.next_image() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a listing cut short ended as if complete"),
                Err(_) => errors += 1,
            }
        }
        assert!(errors >= 20, "{errors} errors in 30 calls");
    }
}
