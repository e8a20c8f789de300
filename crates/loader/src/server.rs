//! An open storage server: LSUs, images, copies, events, reclaim.

use std::ffi::c_int;

use vastost_ost::*;

use crate::error::OstError;
use crate::events::EventChannel;
use crate::fields::*;
use crate::fields::{c_string, credentials};
use crate::fields::{fill, image_def, zeroed_image_info, zeroed_lsu_info};
use crate::image::Image;
use crate::info::decode_server_info;
use crate::info::{ImageInfo, LsuInfo, ServerInfo, SnapshotInfo};
use crate::plugin::Plugin;

/// An open storage server; closed on drop.
#[derive(Debug)]
pub struct Server<'p> {
    pub(crate) plugin: &'p Plugin,
    pub(crate) raw: sts_server_handle_t,
    pub(crate) closed: bool,
}

impl<'p> Server<'p> {
    /// The raw handle.
    pub fn raw(&self) -> sts_server_handle_t {
        self.raw
    }

    /// An `sts_lsu_t` naming LSU `lsu` on this server; refused when the
    /// name does not fit.
    pub fn lsu(&self, lsu: &str) -> Result<sts_lsu_t, OstError> {
        Ok(sts_lsu_t { sl_server_handle: self.raw, sl_lsu_name: fill(lsu, "LSU name")? })
    }

    /// `vastost_lsu_formats`: the stored formats the plugin reads and
    /// writes, and those written to the LSU.
    pub fn lsu_formats(&self, lsu: &str) -> Result<vastost_formats_t, OstError> {
        let l = self.lsu(lsu)?;
        let mut out = vastost_formats_t::default();
        // SAFETY: valid struct pointers.
        self.plugin.check(unsafe { (self.plugin.api.vastost_lsu_formats)(&l, &mut out) })?;
        Ok(out)
    }

    /// `stspi_get_server_prop`.
    pub fn info(&self) -> Result<ServerInfo, OstError> {
        let mut info = zeroed_server_info();
        // SAFETY: a writable struct.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_server_prop)(self.raw, &mut info) })?;
        Ok(decode_server_info(&info))
    }

    /// The LSU names, through an LSU list.
    pub fn lsus(&self) -> Result<Vec<String>, OstError> {
        let api = &self.plugin.api;
        let mut list: sts_lsu_list_handle_t = std::ptr::null_mut();
        // SAFETY: a writable handle.
        self.plugin.check(unsafe { (api.stspi_open_lsu_list)(self.raw, &mut list) })?;
        let mut out = Vec::new();
        let result = loop {
            let mut name = sts_lsu_name_t { sln_name: [0; STS_MAX_LSUNAME] };
            // SAFETY: a writable struct.
            let st = unsafe { (api.stspi_list_lsu)(list, &mut name) };
            if st == sts_status::STS_ENOMORE as c_int {
                break Ok(());
            }
            if let Err(e) = self.plugin.check(st) {
                break Err(e);
            }
            out.push(cstr(&name.sln_name));
        };
        // SAFETY: the list handle from above.
        let closed = self.plugin.check(unsafe { (api.stspi_close_lsu_list)(list) });
        result.and(closed).map(|()| out)
    }

    /// `stspi_get_lsu_prop_byname`.
    pub fn lsu_info(&self, lsu: &str) -> Result<LsuInfo, OstError> {
        let l = self.lsu(lsu)?;
        let mut i = zeroed_lsu_info();
        // SAFETY: valid struct pointers.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_lsu_prop_byname)(&l, &mut i) })?;
        Ok(LsuInfo {
            name: cstr(&i.lsu_name),
            flags: i.lsu_flags,
            capacity: i.lsu_capacity,
            used: i.lsu_used,
            available: i.lsu_avail,
            label: cstr(&i.lsu_label),
            worm_bounds: (i.lsu_worm_min, i.lsu_worm_max),
        })
    }

    /// `stspi_label_lsu`.
    pub fn label_lsu(&self, lsu: &str, label: &str) -> Result<(), OstError> {
        let l = self.lsu(lsu)?;
        let label = c_string(label)?;
        // SAFETY: valid struct and string.
        self.plugin.check(unsafe { (self.plugin.api.stspi_label_lsu)(&l, label.as_ptr()) })
    }

    /// `stspi_create_image`.
    pub fn create_image(&self, lsu: &str, basename: &str, date: &str) -> Result<Image<'p>, OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        let mut h: stsp_image_handle_t = std::ptr::null_mut();
        // SAFETY: valid structs and a writable handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_create_image)(&l, &d, 0, &mut h) })?;
        Ok(Image { plugin: self.plugin, raw: h, closed: false })
    }

    /// `stspi_open_image` with `STS_O_READ` or `STS_O_WRITE`.
    pub fn open_image(&self, lsu: &str, basename: &str, date: &str, mode: c_int) -> Result<Image<'p>, OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        let mut h: stsp_image_handle_t = std::ptr::null_mut();
        // SAFETY: valid structs and a writable handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_open_image)(&l, &d, mode, &mut h) })?;
        Ok(Image { plugin: self.plugin, raw: h, closed: false })
    }

    /// `stspi_delete_image`.
    pub fn delete_image(&self, lsu: &str, basename: &str, date: &str) -> Result<(), OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        // SAFETY: valid structs.
        self.plugin.check(unsafe { (self.plugin.api.stspi_delete_image)(&l, &d, 0) })
    }

    /// `stspi_lock_image`: locks the image until `unlock_time` (seconds
    /// since the epoch).
    pub fn lock_image(&self, lsu: &str, basename: &str, date: &str, unlock_time: u64) -> Result<(), OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        // SAFETY: valid structs.
        self.plugin.check(unsafe { (self.plugin.api.stspi_lock_image)(&l, &d, unlock_time) })
    }

    /// `vastost_release_image_lock`: lifts a governance lock, naming `who`
    /// asks in the audit log.
    pub fn release_image_lock(&self, lsu: &str, basename: &str, date: &str, who: &str) -> Result<(), OstError> {
        let (l, d, w) = (self.lsu(lsu)?, image_def(basename, date)?, c_string(who)?);
        // SAFETY: valid structs and a NUL-terminated string.
        self.plugin.check(unsafe { (self.plugin.api.vastost_release_image_lock)(&l, &d, w.as_ptr()) })
    }

    /// `vastost_image_tampered`: what was written behind an image's lock,
    /// one line each (removed first where the keys allow, with `remove`).
    pub fn image_tampered(&self, lsu: &str, basename: &str, date: &str, remove: bool) -> Result<String, OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        // Removed by the first call already: a second one lists what is left.
        let mut remove = remove;
        self.text_out(|buf, len, needed| {
            let r = std::mem::take(&mut remove);
            // SAFETY: valid structs; `buf` holds `len` writable bytes.
            unsafe { (self.plugin.api.vastost_image_tampered)(&l, &d, c_int::from(r), buf, len, needed) }
        })
    }

    /// `vastost_lsu_audit`: the LSU's lock releases, one line each (tab
    /// separated: time, until, action, basename, date, who, host, pid).
    pub fn lsu_audit(&self, lsu: &str) -> Result<String, OstError> {
        let l = self.lsu(lsu)?;
        // SAFETY: a valid struct; `buf` holds `len` writable bytes.
        self.text_out(|buf, len, needed| unsafe { (self.plugin.api.vastost_lsu_audit)(&l, buf, len, needed) })
    }

    /// The text an entry point copies into a caller's buffer (as
    /// `vastost_last_error` does, telling in `*needed` the length it
    /// wanted): called again with a buffer that large when it was short.
    fn text_out(
        &self,
        mut call: impl FnMut(*mut std::ffi::c_char, usize, &mut usize) -> c_int,
    ) -> Result<String, OstError> {
        let mut buf = vec![0 as std::ffi::c_char; 64 << 10];
        loop {
            let mut needed = 0usize;
            self.plugin.check(call(buf.as_mut_ptr(), buf.len(), &mut needed))?;
            if needed <= buf.len() {
                return Ok(cstr(&buf));
            }
            buf.resize(needed, 0);
        }
    }

    /// `stspi_get_image_prop_byname`.
    pub fn image_info(&self, lsu: &str, basename: &str, date: &str) -> Result<ImageInfo, OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        let mut i = zeroed_image_info();
        // SAFETY: valid structs.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_image_prop_byname)(&l, &d, &mut i) })?;
        Ok(ImageInfo::from(&i))
    }

    /// Every image of an LSU, through an image list.
    pub fn images(&self, lsu: &str) -> Result<Vec<ImageInfo>, OstError> {
        self.first_images(lsu, usize::MAX)
    }

    /// `vastost_image_dates`: the images of one basename, every date,
    /// without listing the LSU.
    pub fn image_dates(&self, lsu: &str, basename: &str) -> Result<Vec<ImageInfo>, OstError> {
        let (l, name) = (self.lsu(lsu)?, c_string(basename)?);
        let mut infos = vec![zeroed_image_info(); 16];
        loop {
            let mut found = 0usize;
            // SAFETY: valid struct and string; `infos` holds `infos.len()` entries.
            self.plugin.check(unsafe {
                (self.plugin.api.vastost_image_dates)(&l, name.as_ptr(), infos.as_mut_ptr(), infos.len(), &mut found)
            })?;
            if found <= infos.len() {
                return Ok(infos[..found].iter().map(ImageInfo::from).collect());
            }
            infos = vec![zeroed_image_info(); found];
        }
    }

    /// The first `max` images of an LSU's image list (the list is closed
    /// after them).
    pub fn first_images(&self, lsu: &str, max: usize) -> Result<Vec<ImageInfo>, OstError> {
        let api = &self.plugin.api;
        let l = self.lsu(lsu)?;
        let mut list: sts_image_list_handle_t = std::ptr::null_mut();
        // SAFETY: valid struct and a writable handle.
        self.plugin.check(unsafe { (api.stspi_open_image_list)(&l, &mut list) })?;
        let mut out = Vec::new();
        let result = loop {
            if out.len() >= max {
                break Ok(());
            }
            let mut i = zeroed_image_info();
            // SAFETY: a writable struct.
            let st = unsafe { (api.stspi_list_image)(list, &mut i) };
            if st == sts_status::STS_ENOMORE as c_int {
                break Ok(());
            }
            if let Err(e) = self.plugin.check(st) {
                break Err(e);
            }
            out.push(ImageInfo::from(&i));
        };
        // SAFETY: the list handle from above.
        let closed = self.plugin.check(unsafe { (api.stspi_close_image_list)(list) });
        result.and(closed).map(|()| out)
    }

    /// `stspi_open_target_server`: a server to copy to (this one again when
    /// `name` is its own).
    pub fn open_target(&self, name: &str, cred: Option<(&str, &str)>) -> Result<Server<'p>, OstError> {
        let name = c_string(name)?;
        let cred = cred.map(credentials).transpose()?;
        let cred_ptr = cred.as_ref().map_or(std::ptr::null(), |c| c as *const sts_cred_t);
        let mut h: sts_server_handle_t = std::ptr::null_mut();
        // SAFETY: a valid string, NULL or valid credentials, a writable handle.
        let st = unsafe { (self.plugin.api.stspi_open_target_server)(self.raw, name.as_ptr(), cred_ptr, &mut h) };
        self.plugin.check(st)?;
        Ok(Server { plugin: self.plugin, raw: h, closed: false })
    }

    /// The C structs naming a copy's source and target.
    fn copy_ends(
        &self,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<(sts_lsu_t, sts_image_def_t, sts_lsu_t, sts_image_def_t), OstError> {
        Ok((self.lsu(lsu)?, image_def(image.0, image.1)?, to.lsu(to_lsu)?, image_def(to_image.0, to_image.1)?))
    }

    /// `stspi_copy_image` from LSU `lsu` of this server to LSU `to_lsu` of
    /// `to` (this server or a target server).
    pub fn copy_image(
        &self,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<(), OstError> {
        let (fl, fd, tl, td) = self.copy_ends(lsu, image, to, to_lsu, to_image)?;
        // SAFETY: valid structs.
        self.plugin.check(unsafe { (self.plugin.api.stspi_copy_image)(&fl, &fd, &tl, &td, 0) })
    }

    /// `stspi_async_copy_image`: returns the operation number.
    pub fn async_copy_image(
        &self,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<u64, OstError> {
        let (fl, fd, tl, td) = self.copy_ends(lsu, image, to, to_lsu, to_image)?;
        let mut op = 0;
        // SAFETY: valid structs and a writable number.
        self.plugin.check(unsafe { (self.plugin.api.stspi_async_copy_image)(&fl, &fd, &tl, &td, 0, &mut op) })?;
        Ok(op)
    }

    /// `stspi_named_async_copy_image`.
    pub fn named_async_copy(
        &self,
        name: &str,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<(), OstError> {
        let (fl, fd, tl, td) = self.copy_ends(lsu, image, to, to_lsu, to_image)?;
        let name = c_string(name)?;
        // SAFETY: valid structs and string.
        self.plugin
            .check(unsafe { (self.plugin.api.stspi_named_async_copy_image)(&fl, &fd, &tl, &td, name.as_ptr(), 0) })
    }

    /// `stspi_named_async_wait`: the bytes copied so far, with the status
    /// (`STS_EINPROGRESS` while the copy runs).
    pub fn named_async_wait(&self, name: &str, timeout_secs: u32) -> (u64, Result<(), OstError>) {
        let name = match c_string(name) {
            Ok(n) => n,
            Err(e) => return (0, Err(e)),
        };
        let mut done = 0;
        // SAFETY: a valid string and a writable number.
        let st = unsafe { (self.plugin.api.stspi_named_async_wait)(self.raw, name.as_ptr(), timeout_secs, &mut done) };
        (done, self.plugin.check(st))
    }

    /// `stspi_named_async_cancel`.
    pub fn named_async_cancel(&self, name: &str) -> Result<(), OstError> {
        let name = c_string(name)?;
        // SAFETY: a valid string.
        self.plugin.check(unsafe { (self.plugin.api.stspi_named_async_cancel)(self.raw, name.as_ptr()) })
    }

    /// `stspi_open_evchannel`.
    pub fn events(&self) -> Result<EventChannel<'p>, OstError> {
        let mut h: sts_evc_handle_t = std::ptr::null_mut();
        // SAFETY: a writable handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_open_evchannel)(self.raw, 0, &mut h) })?;
        Ok(EventChannel { plugin: self.plugin, raw: h })
    }

    /// `vastost_reclaim` on LSU `lsu` (or every LSU); `grace_secs` `None`
    /// keeps the configured grace period.
    pub fn reclaim(
        &self,
        lsu: Option<&str>,
        grace_secs: Option<u64>,
        older_than_secs: Option<u64>,
    ) -> Result<vastost_reclaim_t, OstError> {
        let lsu = lsu.map(c_string).transpose()?;
        let mut report = vastost_reclaim_t::default();
        let secs = |s: Option<u64>| s.map_or(-1, |g| i64::try_from(g).unwrap_or(i64::MAX));
        let (grace, older) = (secs(grace_secs), secs(older_than_secs));
        let lsu_ptr = lsu.as_ref().map_or(std::ptr::null(), |l| l.as_ptr());
        // SAFETY: NULL or a valid string, and a writable struct.
        let st = unsafe { (self.plugin.api.vastost_reclaim)(self.raw, lsu_ptr, grace, older, &mut report) };
        self.plugin.check(st)?;
        Ok(report)
    }

    /// `vastost_snapshot_create`: `expires` 0 is never.
    pub fn snapshot_create(
        &self,
        lsu: &str,
        name: &str,
        expires: u64,
        indestructible: bool,
    ) -> Result<SnapshotInfo, OstError> {
        let (l, n) = (c_string(lsu)?, c_string(name)?);
        let mut out = zeroed_snapshot();
        // SAFETY: NUL-terminated strings and a writable struct.
        let st = unsafe {
            (self.plugin.api.vastost_snapshot_create)(
                self.raw,
                l.as_ptr(),
                n.as_ptr(),
                expires,
                c_int::from(indestructible),
                &mut out,
            )
        };
        self.plugin.check(st)?;
        Ok(SnapshotInfo::from(&out))
    }

    /// `vastost_snapshot_list`, all of them.
    pub fn snapshots(&self, lsu: &str) -> Result<Vec<SnapshotInfo>, OstError> {
        let l = c_string(lsu)?;
        let mut slots: Vec<vastost_snapshot_t> = Vec::new();
        loop {
            let mut count = 0u32;
            let capacity = u32::try_from(slots.len()).unwrap_or(u32::MAX);
            // SAFETY: `slots` holds `capacity` writable entries.
            let st = unsafe {
                (self.plugin.api.vastost_snapshot_list)(self.raw, l.as_ptr(), slots.as_mut_ptr(), capacity, &mut count)
            };
            self.plugin.check(st)?;
            if count <= capacity {
                return Ok(slots[..count as usize].iter().map(SnapshotInfo::from).collect());
            }
            slots = vec![zeroed_snapshot(); count as usize];
        }
    }

    /// `vastost_snapshot_delete`.
    pub fn snapshot_delete(&self, lsu: &str, name: &str) -> Result<(), OstError> {
        let (l, n) = (c_string(lsu)?, c_string(name)?);
        // SAFETY: NUL-terminated strings.
        self.plugin.check(unsafe { (self.plugin.api.vastost_snapshot_delete)(self.raw, l.as_ptr(), n.as_ptr()) })
    }

    /// `stspi_close_server`.
    pub fn close(mut self) -> Result<(), OstError> {
        self.closed = true;
        // SAFETY: our handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_close_server)(self.raw) })
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        if !self.closed {
            // SAFETY: our handle; a failure here has nobody to report to.
            let _ = unsafe { (self.plugin.api.stspi_close_server)(self.raw) };
        }
    }
}

/// Opening servers is the plugin's, written here beside what a server is.
impl Plugin {
    /// `stspi_open_server`, with user and password when given.
    pub fn open_server(&self, server: &str, cred: Option<(&str, &str)>) -> Result<Server<'_>, OstError> {
        let name = c_string(server)?;
        let cred = cred.map(credentials).transpose()?;
        let mut handle: sts_server_handle_t = std::ptr::null_mut();
        // SAFETY: valid string, NULL or valid credentials, writable handle.
        let st = unsafe {
            (self.api.stspi_open_server)(name.as_ptr(), cred.as_ref().map_or(std::ptr::null(), |c| c), &mut handle)
        };
        self.check(st)?;
        Ok(Server { plugin: self, raw: handle, closed: false })
    }
}
