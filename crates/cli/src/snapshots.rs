//! `vastost snapshot`: snapshots of an LSU's view, taken, listed and
//! deleted by the plugin through the cluster's VMS.

use anyhow::Result;
use vastost_loader::Plugin;

use crate::args::SnapshotCommand;
use crate::dates::now_secs;
use crate::session;

/// Runs a snapshot command.
pub(crate) fn run(plugin: &Plugin, command: &SnapshotCommand) -> Result<()> {
    match command {
        SnapshotCommand::Create { lsu, name, expires, indestructible } => {
            let server = session::open(plugin, &lsu.server)?;
            let name = name.clone().unwrap_or_else(|| format!("vastost-{}-{}", lsu.lsu, now_secs()));
            let expires = expires.map_or(0, |secs| now_secs().saturating_add(secs));
            let s = server.snapshot_create(&lsu.lsu, &name, expires, *indestructible)?;
            println!(
                "created snapshot {} of {} (id {}){}",
                s.name,
                s.path,
                s.id,
                describe(s.expires, s.indestructible)
            );
            Ok(())
        }
        SnapshotCommand::List(lsu) => {
            let server = session::open(plugin, &lsu.server)?;
            let all = server.snapshots(&lsu.lsu)?;
            println!("{:<40} {:>8} {:>12} {:>12} indestructible", "name", "id", "created", "expires");
            for s in &all {
                let expires = if s.expires == 0 { "never".to_string() } else { s.expires.to_string() };
                println!(
                    "{:<40} {:>8} {:>12} {:>12} {}",
                    s.name,
                    s.id,
                    s.created,
                    expires,
                    if s.indestructible { "yes" } else { "no" }
                );
            }
            eprintln!("{} snapshot(s)", all.len());
            Ok(())
        }
        SnapshotCommand::Delete { lsu, name } => {
            session::open(plugin, &lsu.server)?.snapshot_delete(&lsu.lsu, name)?;
            eprintln!("deleted snapshot {name}");
            Ok(())
        }
    }
}

fn describe(expires: u64, indestructible: bool) -> String {
    match (expires, indestructible) {
        (0, _) => String::new(),
        (at, true) => format!(", indestructible until {at}"),
        (at, false) => format!(", expires at {at}"),
    }
}
