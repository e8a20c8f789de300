//! Resolving an extent list (later entries win) into the non-overlapping
//! pieces a reader walks.

use std::collections::BTreeMap;

use crate::manifest::Extent;

/// `len` bytes of the image at `start` come from extent `extent` at
/// `delta` bytes into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub start: u64,
    pub len: u64,
    pub extent: usize,
    pub delta: u64,
}

impl Piece {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// The pieces of `extents`, sorted by offset; gaps are holes (zeros).
pub(crate) fn resolve(extents: &[Extent]) -> Vec<Piece> {
    let mut map: BTreeMap<u64, Piece> = BTreeMap::new();
    for (index, e) in extents.iter().enumerate() {
        if e.length == 0 {
            continue;
        }
        let (start, end) = (e.offset, e.offset + e.length);
        // Pieces that overlap [start, end): the one starting before `start`
        // (if it reaches into the range) and all starting inside it.
        let mut hit: Vec<u64> = map.range(start..end).map(|(k, _)| *k).collect();
        if let Some((k, p)) = map.range(..start).next_back()
            && p.end() > start
        {
            hit.push(*k);
        }
        for k in hit {
            let p = map.remove(&k).expect("key was just listed");
            if p.start < start {
                map.insert(p.start, Piece { len: start - p.start, ..p });
            }
            if p.end() > end {
                let cut = end - p.start;
                map.insert(end, Piece { start: end, len: p.len - cut, extent: p.extent, delta: p.delta + cut });
            }
        }
        map.insert(start, Piece { start, len: e.length, extent: index, delta: 0 });
    }
    map.into_values().collect()
}

/// The extents that still show at least one byte, in their order: what
/// later writes hid entirely is dropped, so that manifests stay small and
/// the data they no longer need can be reclaimed.
pub(crate) fn compact(extents: &[Extent]) -> Vec<Extent> {
    let mut used = vec![false; extents.len()];
    for p in resolve(extents) {
        used[p.extent] = true;
    }
    extents.iter().zip(used).filter(|(_, u)| *u).map(|(e, _)| e.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ObjectRef;

    fn ext(offset: u64, length: u64) -> Extent {
        Extent {
            offset,
            length,
            object_offset: 0,
            object: ObjectRef {
                lsu: None,
                key: String::new(),
                size: length,
                chunk_size: 1,
                crcs: vec![],
                version: None,
            },
        }
    }

    /// Replays the extents byte by byte: the reference the fast path must match.
    fn naive(extents: &[Extent], size: u64) -> Vec<Option<(usize, u64)>> {
        let mut v = vec![None; size as usize];
        for (i, e) in extents.iter().enumerate() {
            for b in 0..e.length {
                v[(e.offset + b) as usize] = Some((i, b));
            }
        }
        v
    }

    #[test]
    fn compaction_keeps_exactly_what_shows() {
        let extents = vec![ext(0, 10), ext(5, 10), ext(0, 20), ext(20, 5)];
        let kept = compact(&extents);
        assert_eq!(kept, vec![ext(0, 20), ext(20, 5)]);
        assert_eq!(naive(&kept, 30).iter().filter(|b| b.is_some()).count(), 25);
    }

    #[test]
    fn matches_a_byte_by_byte_replay() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..300 {
            let extents: Vec<Extent> = (0..rng.usize(1..8)).map(|_| ext(rng.u64(0..60), rng.u64(0..30))).collect();
            let want = naive(&extents, 100);
            let mut got = vec![None; 100];
            let pieces = resolve(&extents);
            for w in pieces.windows(2) {
                assert!(w[0].end() <= w[1].start, "pieces overlap: {pieces:?}");
            }
            for p in pieces {
                for b in 0..p.len {
                    got[(p.start + b) as usize] = Some((p.extent, p.delta + b));
                }
            }
            assert_eq!(got, want, "{extents:?}");
        }
    }
}
