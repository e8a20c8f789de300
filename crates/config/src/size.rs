//! Sizes in the file: read as bytesize reads them (`"64MiB"`, `1048576`),
//! written in the largest binary unit that divides them (`"64MiB"`), which
//! an administrator reads at a glance and the reader gives back exactly.

use bytesize::ByteSize;
use serde::{Deserialize, Deserializer, Serializer};

/// The text written for `size`.
pub(crate) fn text(size: ByteSize) -> String {
    let bytes = size.as_u64();
    for (unit, name) in [(1u64 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

pub(crate) fn serialize<S: Serializer>(size: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&text(*size))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
    ByteSize::deserialize(d)
}

/// The same for a size that may be absent.
pub(crate) mod optional {
    use bytesize::ByteSize;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(size: &Option<ByteSize>, s: S) -> Result<S::Ok, S::Error> {
        match size {
            Some(size) => crate::size::serialize(size, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ByteSize>, D::Error> {
        Option::<ByteSize>::deserialize(d)
    }
}
