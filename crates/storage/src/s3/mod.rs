//! The S3 backend: the store over OpenDAL's s3 service, one transport per
//! endpoint (`backend`); the requests OpenDAL does not make, signed and
//! sent through the same transports (`raw`); Object Lock and versions
//! (`lock`); and what an S3 server says when it refuses (`said`).

pub(crate) mod backend;
pub(crate) mod lock;
pub(crate) mod raw;
pub(crate) mod said;
