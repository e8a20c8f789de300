//! The exported entry points, `stspi_<operation>`, plus a few `vastost_`
//! extensions. Each body runs inside `guard` (the panic boundary): checks its pointers, calls
//! the engine, and writes outputs only on success.

mod args;
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
