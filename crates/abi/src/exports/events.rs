//! Event channels: image created and deleted, as NetBackup polls them.

use std::sync::Mutex;

use crate::boundary::guard;
use crate::convert::*;
use crate::failure::Failure;
use crate::handles::{self, Channel, Object};
use crate::ost::*;
use crate::state;

/// Opens a channel on the events of every LSU of `server` (kept on the
/// storage: they survive restarts and are seen by every media server).
/// `flags` must be 0.
///
/// # Pointers
/// `channel` is writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_open_evchannel(
    server: sts_server_handle_t,
    flags: u32,
    channel: Option<&mut sts_evc_handle_t>,
) -> sts_status_t {
    guard("stspi_open_evchannel", || {
        let engine = state::engine()?;
        let server = handles::server(server, "server")?;
        let out = given_mut(channel, "channel")?;
        if flags != 0 {
            return Err(Failure::invalid(format!("event channel flags {flags:#x}: none are defined")));
        }
        let poller = vastost_engine::EventPoller::new(server.clone());
        let chan = handles::EventChannel { server, poller, given: Default::default(), next_seq: 1 };
        *out = handles::insert(Object::Events(Mutex::new(chan)), engine.epoch)?;
        Ok(())
    })
}

fn with_channel<R>(
    channel: sts_evc_handle_t,
    body: impl FnOnce(&mut handles::EventChannel) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let _engine = state::engine()?;
    handles::with::<Channel, _, _>(channel, "channel", |chan| body(&mut chan.lock().unwrap_or_else(|p| p.into_inner())))
}

/// The oldest event this channel has not handed out yet, or
/// `STS_ENOMORE`. An event stays on the storage until `stspi_delete_event`
/// (or its retention time ends).
///
/// # Pointers
/// `event` is writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_get_event(channel: sts_evc_handle_t, event: Option<&mut sts_event_t>) -> sts_status_t {
    guard("stspi_get_event", || {
        let out = given_mut(event, "event")?;
        with_channel(channel, |chan| {
            let Some(next) = chan.poller.next_event()? else {
                return Err(Failure::new(sts_status::STS_ENOMORE, "no more events"));
            };
            let seq = chan.next_seq;
            chan.next_seq += 1;
            *out = event_to_c(&next.event, seq, chan.server.name());
            chan.given.insert(seq, (next.lsu, next.key));
            Ok(())
        })
    })
}

/// Deletes an event handed out by this channel (by its `ev_seq`), for
/// every poller.
///
/// # Pointers
/// `event` is valid.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_delete_event(channel: sts_evc_handle_t, event: Option<&sts_event_t>) -> sts_status_t {
    guard("stspi_delete_event", || {
        let event = given(event, "event")?;
        with_channel(channel, |chan| {
            let Some((lsu, key)) = chan.given.get(&event.ev_seq).cloned() else {
                return Err(Failure::invalid(format!("event {} was not handed out by this channel", event.ev_seq)));
            };
            chan.server.lsu(&lsu)?.delete_event(&key)?;
            chan.given.remove(&event.ev_seq);
            Ok(())
        })
    })
}

/// Closes an event channel; its events stay on the storage.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_close_evchannel(channel: sts_evc_handle_t) -> sts_status_t {
    guard("stspi_close_evchannel", || handles::remove::<Channel, _>(channel, "channel"))
}
