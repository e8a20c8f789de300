//! The parsers of argument values (sizes, durations, latencies) that the
//! commands share.

use bytesize::ByteSize;

/// Parses a duration: a number with s, m, h or d (plain numbers are
/// seconds).
pub(crate) fn duration_secs(text: &str) -> Result<u64, String> {
    let (digits, unit) =
        text.trim().split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 30m, 24h or 7d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (s, m, h, d or y)")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("{text:?} is too long"))
}

/// Largest `--block`: one write_image or read_image call's buffer. The
/// plugin gains nothing from calls larger than a fragment (64 MiB by default).
pub const MAX_BLOCK: u64 = 256 << 20;

/// Parses a `--block` size and bounds it, so that an absurd size is a clear
/// usage error rather than a failed allocation.
pub(crate) fn block_size(text: &str) -> Result<ByteSize, String> {
    let size: ByteSize = text.parse()?;
    if size.0 < 512 || size.0 > MAX_BLOCK {
        return Err(format!("{} bytes is outside 512 bytes to {} (256MiB)", size.0, MAX_BLOCK));
    }
    Ok(size)
}

/// Parses a network latency: a number with ms or us (`10ms`, `500us`).
#[cfg(feature = "lab")]
pub(crate) fn latency(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a latency like 10ms or 500us"))?;
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "us" => Ok(std::time::Duration::from_micros(n)),
        _ => Err(format!("{text:?} is not a latency like 10ms or 500us")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_blocks_parse_and_are_bounded() {
        assert_eq!(duration_secs("0"), Ok(0));
        assert_eq!(duration_secs("90s"), Ok(90));
        assert_eq!(duration_secs("30m"), Ok(1800));
        assert_eq!(duration_secs("24h"), Ok(86_400));
        assert_eq!(duration_secs("7d"), Ok(604_800));
        assert!(duration_secs("h").is_err() && duration_secs("5w").is_err() && duration_secs("-1").is_err());
        assert_eq!(block_size("1MiB").unwrap().0, 1 << 20);
        assert!(block_size("64TiB").is_err() && block_size("511").is_err());
    }
}
