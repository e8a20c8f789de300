//! Who may call: the S3 users' keys (the simulator's own user, and those
//! the simulated VMS creates), checked by s3s's SigV4.

use std::collections::HashMap;
use std::sync::Arc;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

/// Access key of the simulated cluster's S3 user.
pub const ACCESS_KEY: &str = "VASTSIMACCESSKEY";
/// Secret key of the simulated cluster's S3 user (a test value).
pub const SECRET_KEY: &str = "vast-simulator-secret-key-for-tests";

/// The S3 users' keys, shared with the simulated VMS, which creates them.
pub(crate) type Keys = Arc<std::sync::Mutex<HashMap<String, String>>>;

/// Signature checking against the shared keys.
pub(crate) struct KeyAuth(pub Keys);

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match keys.get(access_key) {
            Some(secret) => Ok(SecretKey::from(secret.as_str())),
            None => Err(s3_error!(InvalidAccessKeyId, "no such access key")),
        }
    }
}
