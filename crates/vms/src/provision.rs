//! Idempotent provisioning of what the plugin needs on a cluster: an S3
//! user, an S3 view (bucket) per LSU owned by it, and optionally a quota
//! per view. Running it again creates nothing that exists.

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

impl VmsClient {
    /// Creates what `plan` needs and is missing.
    pub async fn provision(&self, plan: &ProvisionPlan) -> Result<Provisioned, VmsError> {
        let mut done = Provisioned::default();
        if let Some(tenant) = &plan.tenant {
            let tenants: Vec<Named> = self.list("tenants", &[("name", tenant)]).await?;
            if tenants.iter().any(|t| t.name == *tenant) {
                done.existing.push(format!("tenant {tenant}"));
            } else {
                self.post("tenants", &json!({ "name": tenant })).await?;
                done.created.push(format!("tenant {tenant}"));
            }
        }
        let users: Vec<Named> = self.list("users", &[("name", &plan.s3_user)]).await?;
        done.user_id = match users.into_iter().find(|u| u.name == plan.s3_user) {
            Some(u) => {
                done.existing.push(format!("S3 user {}", plan.s3_user));
                u.id
            }
            None => {
                let u: Named = serde_json::from_value(self.post("users", &json!({ "name": plan.s3_user })).await?)
                    .map_err(|e| VmsError::new(VmsErrorKind::Other, "POST", "users/", e.to_string()))?;
                done.created.push(format!("S3 user {}", plan.s3_user));
                u.id
            }
        };
        let policies: Vec<Named> = self.list("viewpolicies", &[("name", &plan.policy)]).await?;
        let policy = policies.into_iter().find(|p| p.name == plan.policy).ok_or_else(|| {
            VmsError::new(VmsErrorKind::NotFound, "GET", "viewpolicies/", format!("no view policy {}", plan.policy))
        })?;
        for bucket in &plan.buckets {
            let path = format!("/{bucket}");
            if self.bucket_view(bucket).await?.is_some() {
                done.existing.push(format!("S3 view {path} (bucket {bucket})"));
            } else {
                let body = json!({ "path": path, "policy_id": policy.id, "protocols": ["S3"], "bucket": bucket,
                                   "bucket_owner": plan.s3_user, "create_dir": true, "name": bucket });
                self.post("views", &body).await?;
                done.created.push(format!("S3 view {path} (bucket {bucket})"));
            }
            if let Some(limit) = plan.quota {
                if self.quotas(&path).await?.is_empty() {
                    let body =
                        json!({ "name": bucket, "path": path, "hard_limit": limit, "soft_limit": limit / 10 * 9 });
                    self.post("quotas", &body).await?;
                    done.created.push(format!("quota of {limit} bytes on {path}"));
                } else {
                    done.existing.push(format!("quota on {path}"));
                }
            }
        }
        Ok(done)
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
