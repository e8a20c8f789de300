//! Handles given to NetBackup. A handle is not a pointer to our memory but
//! a number in a registry, shaped like a pointer: a stale, closed, foreign
//! or wrong-kind handle is simply not found, so it gets `STS_EBADHANDLE`
//! and can never make us touch freed memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use vastost_engine::{ImageInfo, ImageReader, ImageWriter, Server};

use crate::boundary::Failure;
use crate::ost::sts_status;

/// A list being walked by `list_lsu` / `list_image`.
#[derive(Debug)]
pub(crate) struct Cursor<T> {
    pub items: std::vec::IntoIter<T>,
}

/// An open image, by the way it was opened.
#[derive(Debug)]
pub(crate) enum Access {
    Write(ImageWriter),
    Read(ImageReader),
}

impl Access {
    /// What writers and readers share: identity and metadata.
    pub(crate) fn image(&self) -> &vastost_engine::OpenImage {
        match self {
            Access::Write(w) => w.image(),
            Access::Read(r) => r.image(),
        }
    }
}

/// An open image and the server it was opened through.
#[derive(Debug)]
pub(crate) struct ImageHandle {
    pub server: Arc<Server>,
    pub image: Access,
}

/// An open event channel: the events it has handed out, by number.
#[derive(Debug)]
pub(crate) struct EventChannel {
    pub server: Arc<Server>,
    /// Events handed out: (LSU, key), by their number in this channel.
    pub given: HashMap<u64, (String, String)>,
    pub next_seq: u64,
    /// Where the next listing starts (a little before the newest event
    /// handed out), so a poll does not list every event ever kept.
    pub resume: String,
}

#[derive(Debug)]
pub(crate) enum Object {
    Server(Arc<Server>),
    Events(Mutex<EventChannel>),
    LsuList(Mutex<Cursor<String>>),
    ImageList { server: String, cursor: Mutex<Cursor<ImageInfo>> },
    Image(Box<Mutex<ImageHandle>>),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Server(_) => "server",
            Object::LsuList(_) => "LSU list",
            Object::ImageList { .. } => "image list",
            Object::Image(_) => "image",
            Object::Events(_) => "event channel",
        }
    }
}

/// Handle numbers start high and step by 16, so that they look like aligned
/// pointers and small integers or NULL are never valid.
const FIRST: usize = 0x5653_0000_0000;
const STEP: usize = 16;

struct Registry {
    next: AtomicUsize,
    map: RwLock<HashMap<usize, Arc<Object>>>,
}

static REGISTRY: LazyLock<Registry> =
    LazyLock::new(|| Registry { next: AtomicUsize::new(FIRST), map: RwLock::new(HashMap::new()) });

/// Registers `obj` and returns its handle.
pub(crate) fn insert<T>(obj: Object) -> *mut T {
    let id = REGISTRY.next.fetch_add(STEP, Ordering::Relaxed);
    REGISTRY.map.write().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::new(obj));
    std::ptr::without_provenance_mut(id)
}

fn bad(what: &str, detail: &str) -> Failure {
    Failure::new(sts_status::STS_EBADHANDLE, format!("{what}: {detail}"))
}

/// Looks up a handle of any kind.
pub(crate) fn get<T>(h: *mut T, what: &str) -> Result<Arc<Object>, Failure> {
    if h.is_null() {
        return Err(Failure::null(what));
    }
    REGISTRY
        .map
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&h.addr())
        .cloned()
        .ok_or_else(|| bad(what, "not an open handle of this plugin (stale, closed or foreign)"))
}

/// Removes a handle; it is invalid from now on.
pub(crate) fn remove<T>(h: *mut T, what: &str, kind: &'static str) -> Result<Arc<Object>, Failure> {
    let obj = get(h, what)?;
    if obj.kind() != kind {
        return Err(bad(what, &format!("is a {} handle, not a {kind} handle", obj.kind())));
    }
    REGISTRY.map.write().unwrap_or_else(|p| p.into_inner()).remove(&h.addr());
    Ok(obj)
}

/// Looks up a server handle.
pub(crate) fn server<T>(h: *mut T, what: &str) -> Result<Arc<Server>, Failure> {
    match &*get(h, what)? {
        Object::Server(s) => Ok(s.clone()),
        other => Err(bad(what, &format!("is a {} handle, not a server handle", other.kind()))),
    }
}

/// Checks that a handle is of `kind` and returns it.
pub(crate) fn of_kind<T>(h: *mut T, what: &str, kind: &'static str) -> Result<Arc<Object>, Failure> {
    let obj = get(h, what)?;
    if obj.kind() != kind {
        return Err(bad(what, &format!("is a {} handle, not a {kind} handle", obj.kind())));
    }
    Ok(obj)
}

/// Forgets every handle (at `terminate`): open images are abandoned, as if
/// the connection dropped.
pub(crate) fn clear() {
    REGISTRY.map.write().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Handles open now.
pub(crate) fn count() -> usize {
    REGISTRY.map.read().unwrap_or_else(|p| p.into_inner()).len()
}
