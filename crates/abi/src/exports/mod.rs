//! The exported entry points, `stspi_<operation>`, plus a few `vastost_`
//! extensions. Each body runs inside `guard` (the panic boundary): checks its pointers, calls
//! the engine, and writes outputs only on success.

use std::sync::Arc;

use vastost_engine::{Lsu, Server};

use crate::boundary::Failure;
use crate::convert::*;
use crate::handles::{self, ImageHandle, ImageObj};
use crate::ost::*;
use crate::state;

fn lsu_of(lsu: &sts_lsu_t) -> Result<(Arc<Server>, Lsu), Failure> {
    let server = handles::server(lsu.sl_server_handle, "sl_server_handle")?;
    let name = field_str(&lsu.sl_lsu_name, "sl_lsu_name")?;
    let lsu = server.lsu(&name)?;
    Ok((server, lsu))
}

fn with_image<R>(
    h: stsp_image_handle_t,
    body: impl FnOnce(&mut ImageHandle) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let _engine = state::engine()?;
    handles::with::<Box<ImageObj>, _, _>(h, "image handle", |obj| {
        let mut image = obj.lock("image handle")?;
        body(&mut image)
    })
}

mod copy;
mod events;
mod ext;
mod image;
mod lifecycle;
mod lsu;
mod meta;
mod server;

pub use copy::*;
pub use events::*;
pub use ext::*;
pub use image::*;
pub use lifecycle::*;
pub use lsu::*;
pub use meta::*;
pub use server::*;
