//! An open image: data, metadata, properties, close.

use vastost_ost::*;

use crate::error::OstError;
use crate::fields::zeroed_image_info;
use crate::info::ImageInfo;
use crate::plugin::Plugin;

/// An open image; dropped without `close`, it is closed incomplete (a
/// checkpoint), as a media server whose job stopped would leave it.
#[derive(Debug)]
pub struct Image<'p> {
    pub(crate) plugin: &'p Plugin,
    pub(crate) raw: stsp_image_handle_t,
    pub(crate) closed: bool,
}

impl Image<'_> {
    /// The raw handle.
    pub fn raw(&self) -> stsp_image_handle_t {
        self.raw
    }

    /// `stspi_write_image`: returns the bytes accepted.
    pub fn write(&mut self, data: &[u8], offset: u64) -> Result<u64, OstError> {
        let mut written = 0;
        // SAFETY: `data` is valid for its length; `written` is writable.
        let st = unsafe {
            (self.plugin.api.stspi_write_image)(
                self.raw,
                std::ptr::null(),
                data.as_ptr().cast(),
                data.len() as u64,
                offset,
                &mut written,
            )
        };
        self.plugin.check(st).map(|()| written)
    }

    /// `stspi_read_image`: returns the bytes read.
    pub fn read(&mut self, buf: &mut [u8], offset: u64) -> Result<u64, OstError> {
        let mut read = 0;
        // SAFETY: `buf` is valid for writes of its length; `read` is writable.
        let st = unsafe {
            (self.plugin.api.stspi_read_image)(self.raw, buf.as_mut_ptr().cast(), buf.len() as u64, offset, &mut read)
        };
        self.plugin.check(st).map(|()| read)
    }

    /// `stspi_flush`.
    pub fn flush(&mut self) -> Result<(), OstError> {
        // SAFETY: our handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_flush)(self.raw) })
    }

    /// `stspi_get_image_prop`.
    pub fn info(&self) -> Result<ImageInfo, OstError> {
        let mut i = zeroed_image_info();
        // SAFETY: a writable struct.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_image_prop)(self.raw, &mut i) })?;
        Ok(ImageInfo::from(&i))
    }

    /// `stspi_write_image_meta`.
    pub fn write_meta(&mut self, data: &[u8], offset: u64) -> Result<u64, OstError> {
        let mut written = 0;
        // SAFETY: `data` valid for its length; `written` writable.
        let st = unsafe {
            (self.plugin.api.stspi_write_image_meta)(
                self.raw,
                data.as_ptr().cast(),
                data.len() as u64,
                offset,
                &mut written,
            )
        };
        self.plugin.check(st).map(|()| written)
    }

    /// `stspi_read_image_meta`: returns the bytes read.
    pub fn read_meta(&mut self, buf: &mut [u8], offset: u64) -> Result<u64, OstError> {
        let mut read = 0;
        // SAFETY: `buf` valid for writes of its length; `read` writable.
        let st = unsafe {
            (self.plugin.api.stspi_read_image_meta)(
                self.raw,
                buf.as_mut_ptr().cast(),
                buf.len() as u64,
                offset,
                &mut read,
            )
        };
        self.plugin.check(st).map(|()| read)
    }

    /// `stspi_close_image`, complete or not.
    pub fn close(mut self, complete: bool) -> Result<(), OstError> {
        self.closed = true;
        let flags = if complete { STS_CLOSEF_IH_COMPLETE } else { STS_CLOSEF_IH_INCOMPLETE };
        // SAFETY: our handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_close_image)(self.raw, flags) })
    }

    /// `stspi_copy_extent` from this image (open for reading) into
    /// `target` (open for writing): returns the bytes copied.
    pub fn copy_extent(&self, target: &Image<'_>, from: u64, to: u64, len: u64, flags: u32) -> Result<u64, OstError> {
        let mut copied = 0;
        // SAFETY: our handles and a writable number.
        let st =
            unsafe { (self.plugin.api.stspi_copy_extent)(self.raw, target.raw, from, to, len, flags, &mut copied) };
        self.plugin.check(st).map(|()| copied)
    }

    /// `stspi_include_in_image` from this image (open for reading) into
    /// `target` (open for writing).
    pub fn include_into(&self, target: &Image<'_>, from: u64, to: u64, len: u64) -> Result<(), OstError> {
        // SAFETY: our handles.
        self.plugin.check(unsafe { (self.plugin.api.stspi_include_in_image)(self.raw, target.raw, from, to, len) })
    }

    /// Forgets the handle without closing it: a connection that dropped.
    pub fn abandon(mut self) {
        self.closed = true;
    }
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        if !self.closed {
            // SAFETY: our handle; a failure here has nobody to report to.
            let _ = unsafe { (self.plugin.api.stspi_close_image)(self.raw, STS_CLOSEF_IH_INCOMPLETE) };
        }
    }
}
