use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vastost_storage::ObjectStore;

use crate::config::{DataPath, ServerConfig};
use crate::engine::EngineCtx;
use crate::error::{EngineError, Result};
use crate::lsu::{Lsu, LsuCtx};
use crate::names::LsuName;
use crate::open_images::OpenImages;

/// What a server tells about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The name it was opened with.
    pub name: String,
    /// How its data travels.
    pub data_path: DataPath,
    /// Where its data is, for people (a directory, an endpoint).
    pub location: String,
    /// Size of its data fragments.
    pub fragment_size: u64,
}

/// An open storage server: a VAST cluster, seen through one data path.
#[derive(Debug)]
pub struct Server {
    name: String,
    cfg: ServerConfig,
    ctx: EngineCtx,
    root: PathBuf,
    lsus: Mutex<HashMap<LsuName, Lsu>>,
}

impl Server {
    pub(crate) fn open(name: &str, cfg: ServerConfig, ctx: EngineCtx) -> Result<Self> {
        let root =
            cfg.directory.clone().ok_or_else(|| EngineError::Config(format!("server '{name}' has no directory")))?;
        // The data directory is a mount point: never create it, or a missing
        // mount would send backups to the media server's own disk.
        if !root.is_dir() {
            return Err(EngineError::Config(format!(
                "server '{name}': data directory {} does not exist or is not a directory (is the NFS export mounted?)",
                root.display()
            )));
        }
        for lsu in &cfg.lsus {
            let dir = root.join(LsuName::new(lsu)?.as_str());
            match std::fs::create_dir(&dir) {
                Ok(()) => tracing::info!(server = name, lsu = %lsu, "created LSU folder"),
                // Another stream opening the same server made it first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => {
                    return Err(EngineError::Config(format!("cannot create LSU folder {}: {e}", dir.display())));
                }
            }
        }
        tracing::info!(server = name, directory = %root.display(), "opened storage server");
        Ok(Server { name: name.to_string(), cfg, ctx, root, lsus: Mutex::new(HashMap::new()) })
    }

    /// The name it was opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the server tells about itself.
    pub fn info(&self) -> ServerInfo {
        ServerInfo {
            name: self.name.clone(),
            data_path: self.cfg.data_path,
            location: self.root.display().to_string(),
            fragment_size: self.cfg.fragment_size.as_u64(),
        }
    }

    /// The LSUs: the visible folders of the data directory whose names are
    /// valid LSU names.
    pub fn list_lsus(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| EngineError::Config(format!("cannot list {}: {e}", self.root.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| LsuName::new(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Opens LSU `name`; it must exist.
    pub fn lsu(&self, name: &str) -> Result<Lsu> {
        let name = LsuName::new(name)?;
        let mut lsus = self.lsus.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lsu) = lsus.get(&name) {
            return Ok(lsu.clone());
        }
        let dir = self.root.join(name.as_str());
        if !dir.is_dir() {
            return Err(EngineError::NoSuchLsu(name.to_string()));
        }
        let store = ObjectStore::fs(&dir)?;
        let lsu = Lsu::new(Arc::new(LsuCtx {
            name: name.clone(),
            store,
            rt: self.ctx.rt.clone(),
            budget: self.ctx.budget.clone(),
            fragment_size: self.cfg.fragment_size.as_u64(),
            write_parallelism: self.cfg.write_parallelism,
            read_ahead: self.cfg.read_ahead.as_u64(),
            open: Arc::new(OpenImages::default()),
        }));
        lsus.insert(name, lsu.clone());
        Ok(lsu)
    }
}
