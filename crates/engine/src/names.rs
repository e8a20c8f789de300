//! Names from NetBackup, checked and escaped before they become keys.
//!
//! Image basenames and dates go through [`escape`], which maps every byte
//! outside a small safe set to `%XX`, so that any accepted name becomes one
//! key component and comes back exactly through [`unescape`]. Names that no
//! NetBackup would send and that smell of an attack (path separators, `.`
//! and `..`, control characters, empty or over-long) are refused outright.

use std::fmt;

use crate::error::{EngineError, Result};

/// Longest image basename or date accepted, in bytes.
pub const MAX_IMAGE_NAME: usize = 255;
/// Longest LSU name accepted, in bytes.
pub const MAX_LSU_NAME: usize = 255;

fn check(what: &'static str, name: &str, max: usize) -> Result<()> {
    let refuse = |reason| Err(EngineError::InvalidName { what, name: name.to_string(), reason });
    if name.is_empty() {
        return refuse("is empty");
    }
    if name.len() > max {
        return refuse("is too long");
    }
    if name.chars().any(char::is_control) {
        return refuse("contains a control character");
    }
    if name.contains(['/', '\\']) {
        return refuse("contains a path separator");
    }
    if name == "." || name == ".." {
        return refuse("is a relative path");
    }
    Ok(())
}

fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+' | b'=' | b'@' | b',')
}

/// Maps a checked name to one key component: safe bytes stay, others
/// (and a leading `.`, which would hide the entry) become `%XX`.
pub fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        if is_safe(b) && !(i == 0 && b == b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Longest key component made from a name; filesystems allow 255 bytes.
pub const MAX_COMPONENT: usize = 200;

/// The key component of a checked name: its [`escape`], or, when that is
/// too long for one path component (escaping can triple a name), a cut of
/// it followed by `~` and a 64-bit checksum of the whole name. `~` never
/// appears in an escape, so the two forms cannot meet. Manifests hold the
/// exact names, so listings read names from there, never from keys.
pub fn key_component(name: &str) -> String {
    let escaped = escape(name);
    if escaped.len() <= MAX_COMPONENT {
        return escaped;
    }
    format!("{}~{}", &escaped[..MAX_COMPONENT - 17], checksum64(name))
}

/// A 64-bit checksum of `text` as 16 hex digits: short, stable names for
/// long identities.
pub(crate) fn checksum64(text: &str) -> String {
    let crc_a = crc32c::crc32c(text.as_bytes());
    let crc_b = crc32c::crc32c_append(0x9E37_79B9, text.as_bytes());
    format!("{crc_a:08x}{crc_b:08x}")
}

/// Reverses [`escape`]; `None` for a component that no escape produced.
pub fn unescape(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = key.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    (escape(&name) == key).then_some(name)
}

/// An image's identity: NetBackup's basename and date.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageDef {
    basename: String,
    date: String,
}

impl ImageDef {
    /// Checks both parts.
    pub fn new(basename: &str, date: &str) -> Result<Self> {
        check("image basename", basename, MAX_IMAGE_NAME)?;
        check("image date", date, MAX_IMAGE_NAME)?;
        Ok(ImageDef { basename: basename.to_string(), date: date.to_string() })
    }

    /// The basename as NetBackup gave it.
    pub fn basename(&self) -> &str {
        &self.basename
    }

    /// The date as NetBackup gave it.
    pub fn date(&self) -> &str {
        &self.date
    }
}

impl fmt::Display for ImageDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.basename, self.date)
    }
}

/// An LSU name: a folder under the data directory, or a bucket. Not
/// escaped, since administrators create and read these by hand; so it must
/// already be a safe, visible folder name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LsuName(String);

impl LsuName {
    /// Checks an LSU name.
    pub fn new(name: &str) -> Result<Self> {
        check("LSU name", name, MAX_LSU_NAME)?;
        if name.starts_with('.') {
            return Err(EngineError::InvalidName {
                what: "LSU name",
                name: name.to_string(),
                reason: "starts with a dot",
            });
        }
        Ok(LsuName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LsuName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// S3's bucket naming rules: 3 to 63 characters, lower-case letters,
/// digits, `-` and `.`, starting and ending with a letter or digit.
pub(crate) fn check_bucket_name(name: &str) -> Result<()> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = (3..=63).contains(&name.len())
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum);
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidName {
            what: "LSU (S3 bucket) name",
            name: name.to_string(),
            reason: "must be 3-63 lower-case letters, digits, '-' or '.'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        for name in ["client_1588173008_C1_F1", ".hidden", "a b%c", "ünïcödé", "x:y*z?", "..x", "a..b", "%41"] {
            let key = escape(name);
            assert!(key.bytes().all(|b| is_safe(b) || b == b'%'), "{key}");
            assert!(!key.starts_with('.'), "{key}");
            assert_eq!(unescape(&key).as_deref(), Some(name));
        }
        assert_eq!(unescape("%4"), None);
        assert_eq!(unescape("%41"), None, "not what escape would produce");
        assert_eq!(unescape("a%2Fb").as_deref(), Some("a/b"));
    }

    #[test]
    fn long_names_fit_one_path_component() {
        let long = "é".repeat(127);
        let key = key_component(&long);
        assert_eq!(key.len(), MAX_COMPONENT);
        assert!(key.contains('~'));
        assert_ne!(key, key_component(&format!("{}x", "é".repeat(126))), "names differing at the end differ");
        assert_eq!(key_component("short"), "short");
    }

    #[test]
    fn hostile_names_are_refused() {
        let long = "x".repeat(MAX_IMAGE_NAME + 1);
        for bad in ["", "../x", "a/b", "a\\b", ".", "..", "a\nb", "a\0b", "\u{7f}", long.as_str()] {
            assert!(ImageDef::new(bad, "1").is_err(), "{bad:?}");
            assert!(ImageDef::new("x", bad).is_err(), "{bad:?}");
            assert!(LsuName::new(bad).is_err(), "{bad:?}");
        }
        assert!(LsuName::new(".vastost").is_err());
        assert!(ImageDef::new(&"y".repeat(MAX_IMAGE_NAME), "20240101").is_ok());
    }
}
