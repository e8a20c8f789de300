//! Client of VAST's VMS REST API, the cluster's control plane.
//!
//! What the plugin asks of VMS: who the cluster is, how full it is, which
//! S3 views (buckets) exist and what their quotas allow. The client speaks
//! the API as VAST's own clients do (see the project's VMS reference):
//! `https://<vms>/api/[<version>/]<resource>/`, JSON, Basic, JWT or API-token
//! authentication, an optional tenant header, paginated lists.
//!
//! Failure policy: 502/503/504 (VMS restarting or failing over) are retried
//! with exponential backoff and jitter; an expired token (401, or 403
//! without `permission_denied`) is renewed once, by refresh or by logging
//! in again; a 403 `permission_denied` is a real denial and never retried.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod error;
mod model;
mod provision;
mod snapshots;

pub use client::{Auth, TokenCache, VmsClient, VmsConfig};
pub use error::{VmsError, VmsErrorKind};
pub use model::{Cluster, Quota, View, VipPool, period_secs};
pub use provision::{Plan, ProvisionPlan, Provisioned, WormPlan};
pub use snapshots::Snapshot;
