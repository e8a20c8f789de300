//! One page of a bucket listing, as `ListObjects` (v1 and v2) and
//! `ListMultipartUploads` define it: keys under a prefix, rolled up into
//! common prefixes at the first delimiter after it, in key order, after a
//! marker.

use std::collections::BTreeMap;
use std::ops::Bound;

use s3s::dto::{CommonPrefix, ETag, ObjectStorageClass, Owner, Timestamp};
use s3s::{S3Result, s3_error};

use super::auth::ACCESS_KEY;
use super::objects::{Object, Objects};

/// What a page holds: keys (with their values) and common prefixes, in
/// order.
#[derive(Debug)]
pub(crate) struct Page<'a, V> {
    pub items: Vec<Item<'a, V>>,
    /// More entries follow the last one.
    pub truncated: bool,
}

/// An entry of a page.
#[derive(Debug)]
pub(crate) enum Item<'a, V> {
    Key(&'a str, &'a V),
    Prefix(String),
}

impl<V> Item<'_, V> {
    /// What the next page starts after.
    pub(crate) fn marker(&self) -> &str {
        match self {
            Item::Key(k, _) => k,
            Item::Prefix(p) => p,
        }
    }
}

/// The smallest string greater than every string that starts with `p`
/// (`None` when there is none).
fn after_all_starting_with(p: &str) -> Option<String> {
    let mut chars: Vec<char> = p.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        while next <= char::MAX as u32 {
            if let Some(c) = char::from_u32(next) {
                chars.push(c);
                return Some(chars.into_iter().collect());
            }
            next += 1;
        }
    }
    None
}

/// Up to `max` entries of `index` under `prefix`, after `after` (a key or
/// a common prefix given back by an earlier page).
pub(crate) fn page<'a, V>(
    index: &'a BTreeMap<String, V>,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> Page<'a, V> {
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut items = Vec::new();
    let mut from: Bound<String> = match after {
        Some(a) if a >= prefix => Bound::Excluded(a.to_string()),
        _ => Bound::Included(prefix.to_string()),
    };
    loop {
        let mut jump = None;
        for (key, value) in index.range((from.clone(), Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                return Page { items, truncated: false };
            }
            let rolled = delimiter
                .and_then(|d| key[prefix.len()..].find(d).map(|at| key[..prefix.len() + at + d.len()].to_string()));
            let item = match rolled {
                // The common prefix an earlier page ended with.
                Some(p) if Some(p.as_str()) == after => {
                    jump = Some(p);
                    break;
                }
                Some(p) => Item::Prefix(p),
                None => Item::Key(key.as_str(), value),
            };
            if items.len() == max {
                return Page { items, truncated: true };
            }
            if let Item::Prefix(p) = &item {
                jump = Some(p.clone());
                items.push(item);
                break;
            }
            items.push(item);
        }
        // Skip the rest of a common prefix at once.
        match jump.and_then(|p| after_all_starting_with(&p)) {
            Some(next) => from = Bound::Included(next),
            None => return Page { items, truncated: false },
        }
    }
}

/// A listing's page as S3 answers it.
pub(super) struct Listed {
    pub contents: Vec<s3s::dto::Object>,
    pub prefixes: Vec<CommonPrefix>,
    pub last: Option<String>,
    pub truncated: bool,
}

/// The owner S3 names in listings: the simulator's one user.
pub(super) fn owner() -> Owner {
    Owner { display_name: Some(ACCESS_KEY.into()), id: Some(ACCESS_KEY.into()) }
}

pub(super) fn listed(key: &str, o: &Object, with_owner: bool) -> s3s::dto::Object {
    s3s::dto::Object {
        key: Some(key.to_string()),
        size: Some(o.size as i64),
        e_tag: Some(ETag::Strong(o.etag.clone())),
        last_modified: Some(Timestamp::from(o.modified)),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner: with_owner.then(owner),
        ..Default::default()
    }
}

pub(super) fn list(
    objects: &Objects,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: Option<i32>,
    with_owner: bool,
) -> S3Result<Listed> {
    let max = usize::try_from(max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let b = objects.bucket(bucket)?;
    Ok(b.with_index(|index| {
        let page = page(index, prefix, delimiter, after, max);
        let last = page.items.last().map(|i| i.marker().to_string());
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        for item in page.items {
            match item {
                Item::Key(k, o) => contents.push(listed(k, o, with_owner)),
                Item::Prefix(p) => prefixes.push(CommonPrefix { prefix: Some(p) }),
            }
        }
        Listed { contents, prefixes, last, truncated: page.truncated }
    }))
}

/// A continuation token: the marker, base64 (opaque to clients as S3's).
pub(super) fn token(marker: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(marker)
}

pub(super) fn untoken(token: &str) -> S3Result<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "the continuation token provided is incorrect"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(keys: &[&str]) -> BTreeMap<String, ()> {
        keys.iter().map(|k| (k.to_string(), ())).collect()
    }

    fn names<V>(p: &Page<'_, V>) -> Vec<String> {
        p.items.iter().map(|i| i.marker().to_string()).collect()
    }

    #[test]
    fn keys_roll_up_at_the_delimiter_and_pages_continue_after_their_marker() {
        let idx = index(&["a", "b/1", "b/2", "b/3/x", "c", "d/1", "e"]);
        let all = page(&idx, "", Some("/"), None, 1000);
        assert_eq!(names(&all), ["a", "b/", "c", "d/", "e"]);
        assert!(!all.truncated);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let p = page(&idx, "", Some("/"), after.as_deref(), 2);
            seen.extend(names(&p));
            if !p.truncated {
                break;
            }
            after = p.items.last().map(|i| i.marker().to_string());
        }
        assert_eq!(seen, names(&all), "paging neither repeats nor skips");
        assert_eq!(names(&page(&idx, "b/", Some("/"), None, 1000)), ["b/1", "b/2", "b/3/"]);
        assert_eq!(names(&page(&idx, "b/", None, Some("b/1"), 1000)), ["b/2", "b/3/x"]);
        assert!(page(&idx, "zz", None, None, 10).items.is_empty());
    }

    #[test]
    fn a_full_page_says_it_is_truncated_only_when_more_follow() {
        let idx = index(&["x/1", "x/2"]);
        let p = page(&idx, "x/", None, None, 2);
        assert!(!p.truncated);
        let p = page(&idx, "x/", None, None, 1);
        assert!(p.truncated);
    }

    #[test]
    fn the_successor_of_a_prefix_bounds_it() {
        assert_eq!(after_all_starting_with("ab/").as_deref(), Some("ab0"));
        assert_eq!(after_all_starting_with("\u{10FFFF}"), None);
        assert_eq!(after_all_starting_with("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
    }
}
