//! The filesystem backend (on a real site, a VAST NFS mount): the store
//! over OpenDAL's fs service with what it leaves out (`backend`), fragments
//! written in place past the page cache (`writer`) and their buffers
//! (`staging`).

pub(crate) mod backend;
mod staging;
pub(crate) mod writer;
