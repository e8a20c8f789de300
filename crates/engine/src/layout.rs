//! Where things live inside an LSU. The same keys serve S3 and NFS:
//!
//! ```text
//! .vastost/lsu.json                          LSU label, layout version
//! images/<basename>/<date>/manifest/<seq>    commit records; the highest wins
//! images/<basename>/<date>/meta              image metadata (OST metadata API)
//! images/<basename>/<date>/frag/<seq>-<tok>  immutable data fragments
//! images/<basename>/<date>/refs/<id>         markers of images referencing
//!                                            these fragments (see `refs`)
//! .vastost/events/<time>-<tok>               events (see `events`)
//! .vastost/reclaim-cursor                    where a reclaim pass stopped
//! ```
//!
//! The `.vastost/` objects are the plugin's bookkeeping, which may live in
//! another bucket (see `bookkeeping`).
//!
//! Each commit is a new manifest object created with create-if-absent,
//! never a rewrite: two writers cannot both commit the same sequence
//! number, and no rename is needed on S3. Fragment names carry a random
//! token of the writing session, so a resumed backup never overwrites a
//! fragment left by a session that crashed.

use crate::names::{ImageDef, key_component, unescape};

/// OST's block: every data length and offset is a multiple of it.
pub const BLOCK_SIZE: u64 = 512;

/// The LSU's own record.
pub const LSU_LABEL: &str = ".vastost/lsu.json";
/// The folder holding every image.
pub const IMAGES: &str = "images/";
/// Where an unfinished reclaim pass stopped (see `reclaim`).
pub const RECLAIM_CURSOR: &str = ".vastost/reclaim-cursor";
/// The folder of the LSU's events.
pub const EVENTS: &str = ".vastost/events/";
/// Version of this layout, written in the LSU record and every manifest.
pub const LAYOUT_VERSION: u32 = 1;

/// The keys of one image.
#[derive(Debug, Clone)]
pub struct ImageKeys {
    prefix: String,
}

impl ImageKeys {
    /// Keys of `def`.
    pub fn new(def: &ImageDef) -> Self {
        ImageKeys::from_components(&key_component(def.basename()), &key_component(def.date()))
    }

    /// Keys under the folders `images/<basename>/<date>/` as listed.
    pub fn from_components(basename: &str, date: &str) -> Self {
        ImageKeys { prefix: format!("{IMAGES}{basename}/{date}/") }
    }

    /// The image named by the folder itself, for an image whose commit
    /// records (which hold the exact names) are lost: exact unless the name
    /// was shortened to fit a key.
    pub fn def_from_folder(&self) -> Option<ImageDef> {
        let mut parts = self.prefix.strip_prefix(IMAGES)?.trim_end_matches('/').splitn(2, '/');
        let (base, date) = (parts.next()?, parts.next()?);
        let name = |c: &str| unescape(c).unwrap_or_else(|| c.to_string());
        ImageDef::new(&name(base), &name(date)).ok()
    }

    /// The folder of the image (ends with `/`).
    pub fn root(&self) -> &str {
        &self.prefix
    }

    /// The folder of its commit records.
    pub fn manifest_dir(&self) -> String {
        format!("{}manifest/", self.prefix)
    }

    /// Commit record number `seq`.
    pub fn manifest(&self, seq: u64) -> String {
        format!("{}manifest/{seq:020}", self.prefix)
    }

    /// The image metadata object.
    pub fn meta(&self) -> String {
        format!("{}meta", self.prefix)
    }

    /// The folder of its data fragments.
    pub fn frag_dir(&self) -> String {
        format!("{}frag/", self.prefix)
    }

    /// Whether `key` is one of its data fragments.
    pub fn owns(&self, key: &str) -> bool {
        key.strip_prefix(&self.prefix).is_some_and(|rest| rest.starts_with("frag/"))
    }

    /// The image whose data fragment `key` is.
    pub fn owner_of(key: &str) -> Option<ImageKeys> {
        let mut parts = key.strip_prefix(IMAGES)?.splitn(4, '/');
        let (basename, date, folder) = (parts.next()?, parts.next()?, parts.next()?);
        (folder == "frag" && parts.next().is_some()).then(|| ImageKeys::from_components(basename, date))
    }

    /// The folder of the markers of images referencing its fragments.
    pub fn refs_dir(&self) -> String {
        format!("{}refs/", self.prefix)
    }

    /// Reference marker `id`.
    pub fn marker(&self, id: &str) -> String {
        format!("{}refs/{id}", self.prefix)
    }

    /// Data fragment `seq` of the writing session `token`, of the image's
    /// life `incarnation` (see `Manifest::incarnation`; empty for images
    /// of layout 1 before it, whose fragments are `<seq>-<token>`).
    pub fn fragment(&self, seq: u64, token: &str, incarnation: &str) -> String {
        if incarnation.is_empty() {
            format!("{}frag/{seq:010}-{token}", self.prefix)
        } else {
            format!("{}frag/{incarnation}-{seq:010}-{token}", self.prefix)
        }
    }
}

/// Whether fragment file `name` (in an image's `frag/` folder) was written
/// in life `incarnation` of the image, or before lives were recorded.
pub fn fragment_of_life(name: &str, incarnation: &str) -> bool {
    match name.split('-').collect::<Vec<_>>().as_slice() {
        [_, _] => true,
        [life, _, _] => incarnation.is_empty() || *life == incarnation,
        _ => false,
    }
}

/// Parses a commit record's name back to its sequence number.
pub fn parse_manifest_seq(name: &str) -> Option<u64> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_tell_their_life() {
        let keys = ImageKeys::new(&ImageDef::new("a", "1").unwrap());
        let key = keys.fragment(3, "token", "life1");
        let name = key.rsplit('/').next().unwrap();
        assert!(fragment_of_life(name, "life1") && !fragment_of_life(name, "life2"));
        let legacy = keys.fragment(3, "token", "");
        let name = legacy.rsplit('/').next().unwrap();
        assert!(fragment_of_life(name, "life1"), "before lives were recorded: any life's");
        assert!(!fragment_of_life("stray", "life1"));
    }
}
