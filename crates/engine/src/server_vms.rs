//! What a storage server asks of VMS as it opens: the VIPs of a pool to
//! spread S3 requests over, and what the configuration asks to provision.

use vastost_vms::VmsClient;

use crate::error::{EngineError, Result};
use crate::names::check_bucket_name;

/// The S3 endpoints of a VIP pool: each VIP with the scheme and port of the
/// configured endpoint.
pub(crate) async fn vip_endpoints(vms: &VmsClient, pool: &str, endpoint: &str) -> Result<Vec<String>> {
    let found = vms.vip_pool(pool).await?;
    let pool = match found {
        Some(p) if p.enabled => p,
        Some(_) => return Err(EngineError::Config(format!("VIP pool {pool} is disabled"))),
        None => return Err(EngineError::Config(format!("VMS has no VIP pool {pool}"))),
    };
    let (scheme, authority) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let authority = authority.split('/').next().unwrap_or(authority);
    let port = match authority.rsplit_once(':') {
        Some((_, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => p.to_string(),
        _ if scheme == "http" => "80".into(),
        _ => "443".into(),
    };
    let endpoints: Vec<String> = pool.addresses().iter().map(|ip| format!("{scheme}://{ip}:{port}")).collect();
    tracing::info!(pool = %pool.name, vips = endpoints.len(), "spreading S3 requests over the VIP pool");
    Ok(endpoints)
}

/// Creates, through VMS, what the configuration asks for and is missing.
pub(crate) async fn provision(name: &str, plan: &vastost_vms::ProvisionPlan, vms: &VmsClient) -> Result<()> {
    for bucket in &plan.buckets {
        check_bucket_name(bucket)?;
    }
    let done = vms.provision(plan).await?;
    for item in &done.created {
        tracing::info!(target: "audit", server = name, "provisioned {item}");
    }
    Ok(())
}
