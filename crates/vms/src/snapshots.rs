//! Snapshots of a path (`/snapshots/`): a second line of defence beside
//! object locks, optionally indestructible until they expire.

use serde::Deserialize;
use serde_json::json;

use crate::client::VmsClient;
use crate::error::VmsError;

/// `GET /snapshots/`: a snapshot.
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    /// Id.
    pub id: u64,
    /// Name, unique per path.
    pub name: String,
    /// The path it is of.
    pub path: String,
    /// When it was taken (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
    /// When it expires (RFC 3339), if ever.
    #[serde(default)]
    pub expiration_time: Option<String>,
    /// Protected from deletion until it expires.
    #[serde(default)]
    pub indestructible: bool,
}

impl VmsClient {
    /// The snapshots of `path`.
    pub async fn snapshots(&self, path: &str) -> Result<Vec<Snapshot>, VmsError> {
        Ok(self
            .list::<Snapshot>("snapshots", &[("path", path)])
            .await?
            .into_iter()
            .filter(|s| s.path == path)
            .collect())
    }

    /// Takes snapshot `name` of `path`, expiring at `expires` (RFC 3339)
    /// if given, indestructible until then if asked.
    pub async fn create_snapshot(
        &self,
        path: &str,
        name: &str,
        expires: Option<&str>,
        indestructible: bool,
    ) -> Result<Snapshot, VmsError> {
        let mut body = json!({ "path": path, "name": name });
        if let Some(at) = expires {
            body["expiration_time"] = json!(at);
        }
        if indestructible {
            body["indestructible"] = json!(true);
        }
        let made = self.post("snapshots", &body).await?;
        serde_json::from_value(made).map_err(|e| {
            VmsError::new(crate::error::VmsErrorKind::Other, "POST", "snapshots/", format!("unreadable answer: {e}"))
        })
    }

    /// Deletes snapshot `id` (refused while it is indestructible).
    pub async fn delete_snapshot(&self, id: u64) -> Result<(), VmsError> {
        self.delete(&format!("snapshots/{id}")).await
    }
}
