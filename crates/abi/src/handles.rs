//! Handles given to NetBackup. A handle is not a pointer to our memory but
//! a number in a registry, shaped like a pointer: a stale, closed, foreign
//! or wrong-kind handle is simply not found, so it gets `STS_EBADHANDLE`
//! and can never make us touch freed memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use vastost_engine::{EventPoller, ImageInfo, ImagePager, ImageReader, ImageWriter, Server};

use crate::failure::Failure;
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

/// How an image handle was opened: fixed for its life, so it is known
/// without taking the handle's lock (a copy checks its arguments first,
/// then locks reader before writer: one global order, no deadlock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Write,
}

/// The object behind an image handle. Calls on it hold its lock; close
/// takes the image out under that lock, so it waits for calls in flight,
/// and a call that found the handle just before it was closed finds it
/// empty.
#[derive(Debug)]
pub(crate) struct ImageObj {
    pub mode: Mode,
    cell: Mutex<Option<ImageHandle>>,
}

impl ImageObj {
    pub(crate) fn new(handle: ImageHandle) -> Self {
        let mode = match handle.image {
            Access::Write(_) => Mode::Write,
            Access::Read(_) => Mode::Read,
        };
        ImageObj { mode, cell: Mutex::new(Some(handle)) }
    }

    /// Locks the open image; `STS_EBADHANDLE` once it was closed.
    pub(crate) fn lock(&self, what: &str) -> Result<MappedImage<'_>, Failure> {
        let guard = self.cell.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            return Err(bad(what, "was closed by another call"));
        }
        Ok(MappedImage(guard))
    }

    /// Takes the image out, after the calls in flight on it are done.
    fn take(&self) -> Option<ImageHandle> {
        self.cell.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A locked, open image.
pub(crate) struct MappedImage<'a>(std::sync::MutexGuard<'a, Option<ImageHandle>>);

impl std::ops::Deref for MappedImage<'_> {
    type Target = ImageHandle;
    fn deref(&self) -> &ImageHandle {
        self.0.as_ref().expect("checked open when locked; only close empties it, after removing the handle")
    }
}

impl std::ops::DerefMut for MappedImage<'_> {
    fn deref_mut(&mut self) -> &mut ImageHandle {
        self.0.as_mut().expect("checked open when locked; only close empties it, after removing the handle")
    }
}

/// An open event channel: the events it has handed out, by number.
#[derive(Debug)]
pub(crate) struct EventChannel {
    pub server: Arc<Server>,
    /// Where the channel stands in the server's events.
    pub poller: EventPoller,
    /// Events handed out: (LSU, key), by their number in this channel.
    pub given: HashMap<u64, (String, String)>,
    pub next_seq: u64,
}

/// An image list being walked, and the server name its entries carry.
#[derive(Debug)]
pub(crate) struct ImageList {
    pub server: String,
    pub pager: Mutex<Pager>,
}

/// An image list's walk, with the entry `open_image_list` read ahead.
#[derive(Debug)]
pub(crate) struct Pager {
    pub first: Option<ImageInfo>,
    pub pager: ImagePager,
}

impl Pager {
    /// The next image, `None` at the end.
    pub(crate) fn next(&mut self) -> Result<Option<ImageInfo>, Failure> {
        match self.first.take() {
            Some(info) => Ok(Some(info)),
            None => Ok(self.pager.next_image()?),
        }
    }
}

/// An LSU list being walked.
pub(crate) type LsuList = Mutex<Cursor<String>>;
/// An event channel behind its handle.
pub(crate) type Channel = Mutex<EventChannel>;

#[derive(Debug)]
pub(crate) enum Object {
    Server(Arc<Server>),
    Events(Channel),
    LsuList(LsuList),
    ImageList(ImageList),
    Image(Box<ImageObj>),
}

/// A kind of object a handle can stand for: lookups name the kind they
/// expect and get that object, or `STS_EBADHANDLE`.
pub(crate) trait Kind {
    /// For messages.
    const NAME: &'static str;
    /// The object, if it is of this kind.
    fn of(obj: &Object) -> Option<&Self>;
}

macro_rules! kinds {
    ($($ty:ty => $variant:ident, $name:literal;)*) => {$(
        impl Kind for $ty {
            const NAME: &'static str = $name;
            fn of(obj: &Object) -> Option<&Self> {
                match obj {
                    Object::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    )*

        impl Object {
            /// Which kind of object it is, for messages.
            fn kind(&self) -> &'static str {
                match self {
                    $(Object::$variant(_) => <$ty as Kind>::NAME,)*
                }
            }
        }
    };
}

kinds! {
    Arc<Server> => Server, "server";
    LsuList => LsuList, "LSU list";
    ImageList => ImageList, "image list";
    Box<ImageObj> => Image, "image";
    Channel => Events, "event channel";
}

/// Handle numbers start high and step by 16, so that they look like aligned
/// pointers and small integers or NULL are never valid.
const FIRST: usize = 0x5653_0000_0000;
const STEP: usize = 16;

/// The handles of one life of the plugin (from `init` to `terminate`).
#[derive(Default)]
struct Handles {
    /// Which life: `terminate` starts the next one.
    epoch: u64,
    map: HashMap<usize, Arc<Object>>,
}

struct Registry {
    next: AtomicUsize,
    map: RwLock<Handles>,
}

static REGISTRY: LazyLock<Registry> =
    LazyLock::new(|| Registry { next: AtomicUsize::new(FIRST), map: RwLock::new(Handles::default()) });

/// Registers `obj`, made by a call that started in life `epoch` (see
/// [`epoch`]), and returns its handle. When `terminate` ended that life
/// while the call ran, the object is dropped and the call fails: no handle
/// outlives the `terminate` it raced with.
pub(crate) fn insert<T>(obj: Object, epoch: u64) -> Result<*mut T, Failure> {
    let id = REGISTRY.next.fetch_add(STEP, Ordering::Relaxed);
    let mut handles = REGISTRY.map.write().unwrap_or_else(|p| p.into_inner());
    if handles.epoch != epoch {
        return Err(Failure::new(sts_status::STS_ENOTINIT, "the plugin was terminated while the call ran"));
    }
    handles.map.insert(id, Arc::new(obj));
    Ok(std::ptr::without_provenance_mut(id))
}

/// The current life of the plugin, for [`insert`].
pub(crate) fn epoch() -> u64 {
    REGISTRY.map.read().unwrap_or_else(|p| p.into_inner()).epoch
}

fn bad(what: &str, detail: &str) -> Failure {
    Failure::new(sts_status::STS_EBADHANDLE, format!("{what}: {detail}"))
}

/// Looks up a handle of any kind.
fn get<T>(h: *mut T, what: &str) -> Result<Arc<Object>, Failure> {
    if h.is_null() {
        return Err(Failure::null(what));
    }
    REGISTRY
        .map
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .map
        .get(&h.addr())
        .cloned()
        .ok_or_else(|| bad(what, "not an open handle of this plugin (stale, closed or foreign)"))
}

fn wrong_kind<K: Kind>(what: &str, obj: &Object) -> Failure {
    bad(what, &format!("is a {} handle, not a {} handle", obj.kind(), K::NAME))
}

/// Runs `body` with the object of kind `K` behind handle `h`.
pub(crate) fn with<K: Kind, T, R>(
    h: *mut T,
    what: &str,
    body: impl FnOnce(&K) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let obj = get(h, what)?;
    let k = K::of(&obj).ok_or_else(|| wrong_kind::<K>(what, &obj))?;
    body(k)
}

/// Removes handle `h` if it stands for a `K` (it is invalid from then on)
/// and runs `body` with its object. Looking up and removing are one step
/// under the registry's lock: of two calls closing one handle at once,
/// exactly one gets the object, the other `STS_EBADHANDLE`.
pub(crate) fn remove_with<K: Kind, T, R>(h: *mut T, what: &str, body: impl FnOnce(&K) -> R) -> Result<R, Failure> {
    if h.is_null() {
        return Err(Failure::null(what));
    }
    let obj = {
        let mut handles = REGISTRY.map.write().unwrap_or_else(|p| p.into_inner());
        let map = &mut handles.map;
        let obj = map
            .get(&h.addr())
            .ok_or_else(|| bad(what, "not an open handle of this plugin (stale, closed or foreign)"))?;
        if K::of(obj).is_none() {
            return Err(wrong_kind::<K>(what, obj));
        }
        map.remove(&h.addr()).expect("found under the same lock")
    };
    Ok(body(K::of(&obj).expect("kind checked under the same lock")))
}

/// Removes handle `h` if it stands for a `K`; its object goes when the
/// calls in flight on it are done.
pub(crate) fn remove<K: Kind, T>(h: *mut T, what: &str) -> Result<(), Failure> {
    remove_with::<K, _, _>(h, what, |_| ())
}

/// Looks up a server handle.
pub(crate) fn server<T>(h: *mut T, what: &str) -> Result<Arc<Server>, Failure> {
    with::<Arc<Server>, _, _>(h, what, |s| Ok(s.clone()))
}

/// Closes image handle `h`: removes it, waits for the calls in flight on
/// it, and hands the image to `close`.
pub(crate) fn close_image<T, R>(
    h: *mut T,
    what: &str,
    close: impl FnOnce(ImageHandle) -> Result<R, Failure>,
) -> Result<R, Failure> {
    remove_with::<Box<ImageObj>, _, _>(h, what, |obj| match obj.take() {
        Some(image) => close(image),
        None => Err(bad(what, "was closed by another call")),
    })?
}

/// Forgets every handle and starts the next life (at `terminate`): open
/// images are abandoned, as if the connection dropped.
pub(crate) fn clear() {
    let mut handles = REGISTRY.map.write().unwrap_or_else(|p| p.into_inner());
    handles.map.clear();
    handles.epoch += 1;
}

/// Handles open now.
pub(crate) fn count() -> usize {
    REGISTRY.map.read().unwrap_or_else(|p| p.into_inner()).map.len()
}

/// Live handles by kind ("image", "server", ...), for the metrics.
pub(crate) fn count_by_kind() -> std::collections::BTreeMap<&'static str, usize> {
    let mut out = std::collections::BTreeMap::new();
    for object in REGISTRY.map.read().unwrap_or_else(|p| p.into_inner()).map.values() {
        *out.entry(object.kind()).or_default() += 1;
    }
    out
}
