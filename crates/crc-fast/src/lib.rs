//! A stand-in for the `crc-fast` crate, patched in for the whole workspace.
//!
//! OpenDAL's S3 service (CRC32C of every upload) and s3s (checksums the
//! simulator checks) use `crc_fast::Digest`; the real crate also exports a
//! C API (`crc_fast_*`, `#[no_mangle]`) by default, and rustc exports every
//! `#[no_mangle]` function of every dependency from a `cdylib`: 26 foreign
//! symbols in the plugin that NetBackup loads beside other vendors'
//! plugins. This crate offers the same Rust API for the algorithms those
//! crates use, over `crc32c` (hardware CRC32C) and `crc` (table-driven
//! CRC-32 and CRC-64/NVME), and exports nothing.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The CRC algorithms of crc-fast that dependents use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcAlgorithm {
    /// CRC-32/ISO-HDLC (zlib's CRC-32; S3's `CRC32`).
    Crc32IsoHdlc,
    /// CRC-32/ISCSI (Castagnoli; S3's `CRC32C`).
    Crc32Iscsi,
    /// CRC-64/NVME (S3's `CRC64NVME`).
    Crc64Nvme,
}

/// CRC-64/NVME as the NVM Express NVM Command Set specifies it.
const CRC_64_NVME: crc::Algorithm<u64> = crc::Algorithm {
    width: 64,
    poly: 0xad93_d235_94c9_3659,
    init: 0xffff_ffff_ffff_ffff,
    refin: true,
    refout: true,
    xorout: 0xffff_ffff_ffff_ffff,
    check: 0xae8b_1486_0a79_9888,
    residue: 0xf310_303b_2b6f_6e42,
};

static CRC32: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISO_HDLC);
static CRC64_NVME: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&CRC_64_NVME);

#[derive(Clone)]
enum State {
    Crc32(crc::Digest<'static, u32, crc::Table<16>>),
    Crc32c(u32),
    Crc64Nvme(crc::Digest<'static, u64, crc::Table<16>>),
}

/// A running checksum.
#[derive(Clone)]
pub struct Digest {
    state: State,
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest { .. }")
    }
}

impl Digest {
    /// A checksum of nothing yet.
    pub fn new(algorithm: CrcAlgorithm) -> Self {
        let state = match algorithm {
            CrcAlgorithm::Crc32IsoHdlc => State::Crc32(CRC32.digest()),
            CrcAlgorithm::Crc32Iscsi => State::Crc32c(0),
            CrcAlgorithm::Crc64Nvme => State::Crc64Nvme(CRC64_NVME.digest()),
        };
        Digest { state }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(d) => d.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Crc64Nvme(d) => d.update(data),
        }
    }

    /// The checksum of what was added (a 32-bit one in the low bits).
    pub fn finalize(&self) -> u64 {
        match &self.state {
            State::Crc32(d) => u64::from(d.clone().finalize()),
            State::Crc32c(crc) => u64::from(*crc),
            State::Crc64Nvme(d) => d.clone().finalize(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue's check values (the checksum of "123456789"), fed in
    /// two pieces.
    #[test]
    fn each_algorithm_gives_its_check_value() {
        for (algorithm, check) in [
            (CrcAlgorithm::Crc32IsoHdlc, 0xcbf4_3926),
            (CrcAlgorithm::Crc32Iscsi, 0xe306_9283),
            (CrcAlgorithm::Crc64Nvme, 0xae8b_1486_0a79_9888),
        ] {
            let mut d = Digest::new(algorithm);
            d.update(b"1234");
            d.update(b"56789");
            assert_eq!(d.finalize(), check, "{algorithm:?}");
            assert_eq!(d.finalize(), check, "finalize does not consume");
        }
        assert_eq!(Digest::new(CrcAlgorithm::Crc32Iscsi).finalize(), 0);
    }
}
