//! Lookups every area needs: the server and LSU an `sts_lsu_t` names, and
//! the image behind an image handle (locked for the call).

use std::sync::Arc;

use vastost_engine::{Lsu, Server};

use crate::convert::*;
use crate::failure::Failure;
use crate::handles::{self, ImageHandle, ImageObj};
use crate::ost::*;
use crate::state;

/// The open server and the LSU that `lsu` names.
pub(super) fn lsu_of(lsu: &sts_lsu_t) -> Result<(Arc<Server>, Lsu), Failure> {
    let server = handles::server(lsu.sl_server_handle, "sl_server_handle")?;
    let name = field_str(&lsu.sl_lsu_name, "sl_lsu_name")?;
    let lsu = server.lsu(&name)?;
    Ok((server, lsu))
}

/// Runs `body` on the image behind `h`, locked.
pub(super) fn with_image<R>(
    h: stsp_image_handle_t,
    body: impl FnOnce(&mut ImageHandle) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let _engine = state::engine()?;
    handles::with::<Box<ImageObj>, _, _>(h, "image handle", |obj| {
        let mut image = obj.lock("image handle")?;
        body(&mut image)
    })
}
