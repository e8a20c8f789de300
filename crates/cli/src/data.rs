//! A deterministic byte stream for demos, benchmarks and tests: the bytes at
//! any offset can be produced again without keeping them, so a restore is
//! checked bit for bit against what was backed up.

use std::io::{self, Read};

/// splitmix64: a fast, well-mixed function of its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream of `seed`.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    seed: u64,
}

impl Pattern {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Pattern { seed }
    }

    /// Fills `buf` with the bytes at `offset` (both multiples of 8).
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        debug_assert!(offset.is_multiple_of(8) && buf.len().is_multiple_of(8));
        let base = offset / 8;
        for (i, word) in buf.chunks_exact_mut(8).enumerate() {
            word.copy_from_slice(&mix(self.seed ^ (base + i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)).to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_reproduces_the_stream() {
        let p = Pattern::new(3);
        let mut whole = vec![0; 4096];
        p.fill(0, &mut whole);
        let mut part = vec![0; 512];
        p.fill(1024, &mut part);
        assert_eq!(&whole[1024..1536], &part[..]);
        let mut other = vec![0; 512];
        Pattern::new(4).fill(1024, &mut other);
        assert_ne!(part, other);
    }
}

/// A reader of `len` bytes of a [`Pattern`].
#[derive(Debug)]
pub struct PatternReader {
    pattern: Pattern,
    pos: u64,
    len: u64,
}

impl PatternReader {
    /// Bytes `start..end` of `pattern`.
    pub fn new(pattern: Pattern, start: u64, end: u64) -> Self {
        PatternReader { pattern, pos: start, len: end }
    }
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len - self.pos).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        if self.pos.is_multiple_of(8) && n.is_multiple_of(8) {
            self.pattern.fill(self.pos, &mut buf[..n]);
        } else {
            let start = self.pos - self.pos % 8;
            let mut tmp = vec![0u8; ((self.pos + n as u64).next_multiple_of(8) - start) as usize];
            self.pattern.fill(start, &mut tmp);
            let skip = (self.pos - start) as usize;
            buf[..n].copy_from_slice(&tmp[skip..skip + n]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}
