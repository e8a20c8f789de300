//! An event channel.

use std::ffi::c_int;

use vastost_ost::*;

use crate::error::OstError;
use crate::fields::*;
use crate::info::ImageInfo;
use crate::plugin::Plugin;

/// An event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `STS_EVT_*`.
    pub kind: u32,
    /// Its number in the channel (for `delete`).
    pub seq: u64,
    /// When it happened (seconds since the epoch).
    pub time: u64,
    /// The image it concerns.
    pub image: ImageInfo,
}

/// An open event channel; closed on drop.
#[derive(Debug)]
pub struct EventChannel<'p> {
    pub(crate) plugin: &'p Plugin,
    pub(crate) raw: sts_evc_handle_t,
}

impl EventChannel<'_> {
    /// `stspi_get_event`: the next event, or `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<Event>, OstError> {
        let mut e = sts_event_t { ev_type: 0, ev_seq: 0, ev_time: 0, ev_image: zeroed_image_info() };
        // SAFETY: a writable struct.
        let st = unsafe { (self.plugin.api.stspi_get_event)(self.raw, &mut e) };
        if st == sts_status::STS_ENOMORE as c_int {
            return Ok(None);
        }
        self.plugin.check(st)?;
        Ok(Some(Event { kind: e.ev_type, seq: e.ev_seq, time: e.ev_time, image: ImageInfo::from(&e.ev_image) }))
    }

    /// `stspi_delete_event`.
    pub fn delete(&mut self, event: &Event) -> Result<(), OstError> {
        let e =
            sts_event_t { ev_type: event.kind, ev_seq: event.seq, ev_time: event.time, ev_image: zeroed_image_info() };
        // SAFETY: a valid struct.
        self.plugin.check(unsafe { (self.plugin.api.stspi_delete_event)(self.raw, &e) })
    }
}

impl Drop for EventChannel<'_> {
    fn drop(&mut self) {
        // SAFETY: our handle; a failure here has nobody to report to.
        let _ = unsafe { (self.plugin.api.stspi_close_evchannel)(self.raw) };
    }
}
