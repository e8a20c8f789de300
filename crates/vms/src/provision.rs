//! Idempotent provisioning of what the plugin needs on a cluster: a tenant
//! if asked for, an S3 user (a local user of the tenant's local provider,
//! as VMS requires), an S3 view (bucket) per LSU owned by it, and
//! optionally a quota per view. Running it again creates nothing that
//! exists; [`VmsClient::plan`] says what a run would do without doing it.

use serde::Deserialize;
use serde_json::json;

use crate::client::VmsClient;
use crate::error::{VmsError, VmsErrorKind};

/// What to provision.
#[derive(Debug, Clone)]
pub struct ProvisionPlan {
    /// The S3 user owning the buckets (its keys sign the plugin's requests).
    pub s3_user: String,
    /// Buckets, one per LSU.
    pub buckets: Vec<String>,
    /// Hard limit of a quota on each bucket, if wanted.
    pub quota: Option<u64>,
    /// View policy for the views (VAST's S3 default: `s3_default_policy`).
    pub policy: String,
    /// Tenant to create if missing.
    pub tenant: Option<String>,
    /// Create the views locked (WORM), with these settings.
    pub worm: Option<WormPlan>,
    /// A bucket for the plugin's bookkeeping, on a view that is never
    /// locked (no quota either): where LSUs locked by default keep what
    /// the plugin writes for itself.
    pub bookkeeping: Option<String>,
}

/// The WORM settings of new views, as VMS writes them.
#[derive(Debug, Clone)]
pub struct WormPlan {
    /// `COMPLIANCE` or `GOVERNANCE`.
    pub mode: String,
    /// Shortest lock (`1d`).
    pub min: String,
    /// Longest lock (`7y`).
    pub max: String,
    /// The lock every new object version gets, if any: the cluster then
    /// locks what the plugin writes whether it asks or not (its events and
    /// bookkeeping too).
    pub default: Option<String>,
}

impl WormPlan {
    /// The view fields, in the names of the cluster's API: 5.3 and later
    /// (`locking`, `min_retention_period`, …), or 4.6 to 5.2 (`s3_locks`,
    /// `s3_locks_retention_period`, no bounds).
    fn fields(&self, sw_version: &str) -> serde_json::Value {
        let mut parts = sw_version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) >= (5, 3) {
            let mut f = json!({ "locking": true, "s3_versioning": true,
                                "min_retention_period": self.min, "max_retention_period": self.max });
            if let Some(d) = &self.default {
                f["s3_locks_retention_mode"] = json!(self.mode);
                f["default_retention_period"] = json!(d);
            }
            f
        } else {
            let mut f = json!({ "s3_locks": true, "s3_versioning": true });
            if let Some(d) = &self.default {
                f["s3_locks_retention_mode"] = json!(self.mode);
                f["s3_locks_retention_period"] = json!(d);
            }
            f
        }
    }
}

/// What provisioning did.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    /// Id of the S3 user.
    pub user_id: u64,
    /// What was created this time, for people.
    pub created: Vec<String>,
    /// What was there already.
    pub existing: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Named {
    id: u64,
    name: String,
}

#[derive(Debug, Deserialize)]
struct TenantRecord {
    id: u64,
    name: String,
    #[serde(default)]
    local_provider_id: Option<u64>,
}

/// What a provisioning run would find and do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// What it would create, in order.
    pub create: Vec<String>,
    /// What is there already.
    pub existing: Vec<String>,
}

impl VmsClient {
    /// Creates what `plan` needs and is missing.
    pub async fn provision(&self, plan: &ProvisionPlan) -> Result<Provisioned, VmsError> {
        let mut done = Provisioned::default();
        let (mut tenant_provider, mut tenant_id) = (None, None);
        if let Some(tenant) = &plan.tenant {
            let tenants: Vec<TenantRecord> = self.list("tenants", &[("name", tenant)]).await?;
            let record = match tenants.into_iter().find(|t| t.name == *tenant) {
                Some(t) => {
                    done.existing.push(format!("tenant {tenant}"));
                    t
                }
                None => {
                    let created = self.post("tenants", &json!({ "name": tenant })).await?;
                    done.created.push(format!("tenant {tenant}"));
                    serde_json::from_value(created)
                        .map_err(|e| VmsError::new(VmsErrorKind::Other, "POST", "tenants/", e.to_string()))?
                }
            };
            tenant_provider = record.local_provider_id;
            tenant_id = Some(record.id);
        }
        let users: Vec<Named> = self.list("users", &[("name", &plan.s3_user)]).await?;
        done.user_id = match users.into_iter().find(|u| u.name == plan.s3_user) {
            Some(u) => {
                done.existing.push(format!("S3 user {}", plan.s3_user));
                u.id
            }
            None => {
                // VMS creates users in a local provider, which must be named.
                let provider = match tenant_provider {
                    Some(id) => id,
                    None => self.local_provider().await?,
                };
                let body = json!({ "name": plan.s3_user, "local_provider_id": provider });
                let u: Named = serde_json::from_value(self.post("users", &body).await?)
                    .map_err(|e| VmsError::new(VmsErrorKind::Other, "POST", "users/", e.to_string()))?;
                done.created.push(format!("S3 user {}", plan.s3_user));
                u.id
            }
        };
        let policies: Vec<Named> = self.list("viewpolicies", &[("name", &plan.policy)]).await?;
        let policy = policies.into_iter().find(|p| p.name == plan.policy).ok_or_else(|| {
            VmsError::new(VmsErrorKind::NotFound, "GET", "viewpolicies/", format!("no view policy {}", plan.policy))
        })?;
        let sw_version = match &plan.worm {
            Some(_) => self.cluster().await?.sw_version,
            None => String::new(),
        };
        let lsus = plan.buckets.iter().map(|b| (b, plan.worm.as_ref()));
        for (bucket, worm) in lsus.chain(plan.bookkeeping.iter().map(|b| (b, None))) {
            let path = format!("/{bucket}");
            if let Some(view) = self.bucket_view(bucket).await? {
                let unlocked = worm.is_some() && !view.locked();
                let note = if unlocked { ", NOT locked: locking is set when a view is created" } else { "" };
                done.existing.push(format!("S3 view {path} (bucket {bucket}{note})"));
            } else {
                let mut body = json!({ "path": path, "policy_id": policy.id, "protocols": ["S3"], "bucket": bucket,
                                       "bucket_owner": plan.s3_user, "create_dir": true, "name": bucket });
                if let Some(id) = tenant_id {
                    body["tenant_id"] = json!(id);
                }
                if let Some(worm) = worm {
                    for (k, v) in worm.fields(&sw_version).as_object().into_iter().flatten() {
                        body[k] = v.clone();
                    }
                }
                self.post("views", &body).await?;
                done.created.push(format!("S3 view {path} (bucket {bucket})"));
            }
            if let Some(limit) = plan.quota.filter(|_| plan.buckets.contains(bucket)) {
                if self.quotas(&path).await?.is_empty() {
                    let mut body =
                        json!({ "name": bucket, "path": path, "hard_limit": limit, "soft_limit": limit / 10 * 9 });
                    if let Some(id) = tenant_id {
                        body["tenant_id"] = json!(id);
                    }
                    self.post("quotas", &body).await?;
                    done.created.push(format!("quota of {limit} bytes on {path}"));
                } else {
                    done.existing.push(format!("quota on {path}"));
                }
            }
        }
        Ok(done)
    }

    /// The local provider users are created in: the one named `local`,
    /// else the only one.
    async fn local_provider(&self) -> Result<u64, VmsError> {
        let providers: Vec<Named> = self.list("localproviders", &[]).await?;
        match providers.iter().find(|p| p.name == "local") {
            Some(p) => Ok(p.id),
            None if providers.len() == 1 => Ok(providers[0].id),
            None => Err(VmsError::new(
                VmsErrorKind::NotFound,
                "GET",
                "localproviders/",
                format!("no local provider named local among {} (set a tenant whose provider to use)", providers.len()),
            )),
        }
    }

    /// What [`VmsClient::provision`] would create and what exists, without
    /// changing anything.
    pub async fn plan(&self, plan: &ProvisionPlan) -> Result<Plan, VmsError> {
        let mut out = Plan::default();
        let mut note =
            |exists: bool, what: String| if exists { out.existing.push(what) } else { out.create.push(what) };
        if let Some(tenant) = &plan.tenant {
            let tenants: Vec<Named> = self.list("tenants", &[("name", tenant)]).await?;
            note(tenants.iter().any(|t| t.name == *tenant), format!("tenant {tenant}"));
        }
        let users: Vec<Named> = self.list("users", &[("name", &plan.s3_user)]).await?;
        note(users.iter().any(|u| u.name == plan.s3_user), format!("S3 user {}", plan.s3_user));
        for bucket in plan.buckets.iter().chain(&plan.bookkeeping) {
            let path = format!("/{bucket}");
            note(self.bucket_view(bucket).await?.is_some(), format!("S3 view {path} (bucket {bucket})"));
            if let Some(limit) = plan.quota.filter(|_| plan.buckets.contains(bucket)) {
                let exists = !self.quotas(&path).await?.is_empty();
                note(
                    exists,
                    if exists { format!("quota on {path}") } else { format!("quota of {limit} bytes on {path}") },
                );
            }
        }
        Ok(out)
    }

    /// Creates an S3 access key for user `user_id`; the secret is only in
    /// this answer.
    pub async fn create_access_key(&self, user_id: u64) -> Result<(String, String), VmsError> {
        let v = self.post(&format!("users/{user_id}/access_keys"), &json!({})).await?;
        match (v["access_key"].as_str(), v["secret_key"].as_str()) {
            (Some(a), Some(s)) => Ok((a.to_string(), s.to_string())),
            _ => Err(VmsError::new(VmsErrorKind::Other, "POST", "users/<id>/access_keys/", "no key in the answer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_views_use_the_field_names_of_the_clusters_api() {
        let plan =
            WormPlan { mode: "COMPLIANCE".into(), min: "1d".into(), max: "7y".into(), default: Some("30d".into()) };
        let new = plan.fields("5.3.1");
        assert_eq!(new["locking"], true);
        assert_eq!(new["min_retention_period"], "1d");
        assert_eq!(new["default_retention_period"], "30d");
        assert_eq!(new["s3_locks_retention_mode"], "COMPLIANCE");
        let old = plan.fields("5.1.0");
        assert_eq!(old["s3_locks"], true);
        assert_eq!(old["s3_locks_retention_period"], "30d");
        assert!(old.get("locking").is_none() && old.get("min_retention_period").is_none());
        let bare = WormPlan { default: None, ..plan }.fields("5.4.0");
        assert!(bare.get("s3_locks_retention_mode").is_none(), "no mode without a default period");
        assert_eq!(crate::period_secs("6m", true), Some(360));
        assert_eq!(crate::period_secs("6m", false), Some(6 * 30 * 86_400));
    }
}
