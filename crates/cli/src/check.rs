//! `vastost check`: a configured server, checked the way a backup would use
//! it, each step with a verdict.

use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use vastost_loader::Plugin;
use vastost_ost::{
    STS_LSUF_WORM, STS_LSUF_WORM_COMPLIANCE, STS_O_READ, VASTOST_LSUF_BOOKKEEPING_LOCKED,
    VASTOST_LSUF_LOCKED_BY_DEFAULT, VASTOST_LSUF_UNCONDITIONAL_ALLOWED, VASTOST_LSUF_UNCONDITIONAL_WRITES,
};

use crate::args::CheckArgs;
use crate::{fmt, session};

/// Clock skew beyond which S3 signatures start failing (AWS allows 15 min).
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

struct Report {
    failures: usize,
}

impl Report {
    fn verdict(&mut self, what: &str, result: Result<String>) {
        match result {
            Ok(detail) => println!("[ ok ] {what:<22} {detail}"),
            Err(e) => {
                self.failures += 1;
                println!("[FAIL] {what:<22} {e:#}");
            }
        }
    }

    /// Something that works but that a person should know.
    fn warn(&self, what: &str, detail: &str) {
        println!("[warn] {what:<22} {detail}");
    }
}

/// Skew beyond which WORM locks visibly expire at another time than ours
/// says: a delete just after the unlock time is refused by the cluster.
const WORM_SKEW: Duration = Duration::from_secs(60);

/// The clock of `endpoint` against ours, from the `Date` header (`None`
/// when there is no HTTP endpoint).
fn clock_skew(endpoint: &str) -> Result<Option<Duration>> {
    if !endpoint.starts_with("http") {
        return Ok(None);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Only the Date header is read, so the certificate is not what is checked
    // here (the other steps check it).
    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build()?;
    let resp = rt.block_on(client.head(endpoint).send())?;
    let Some(date) = resp.headers().get("date").and_then(|d| d.to_str().ok()) else {
        bail!("the endpoint sends no Date header");
    };
    let theirs = httpdate::parse_http_date(date)?;
    let ours = SystemTime::now();
    let skew = ours.duration_since(theirs).or_else(|e| Ok::<_, anyhow::Error>(e.duration()))?;
    Ok(Some(skew))
}

/// The verdict on a clock skew.
fn skew_verdict(skew: &Result<Option<Duration>>) -> Result<String> {
    match skew {
        Err(e) => bail!("{e:#}"),
        Ok(None) => Ok("not applicable (no HTTP endpoint)".into()),
        Ok(Some(skew)) if *skew > MAX_SKEW => {
            bail!(
                "clocks differ by {} s (over {} s breaks request signing): fix NTP",
                skew.as_secs(),
                MAX_SKEW.as_secs()
            )
        }
        Ok(Some(skew)) => Ok(format!("clocks agree within {} s", skew.as_secs().max(1))),
    }
}

/// Runs the checks; fails when any does.
pub fn run(plugin: &Plugin, args: &CheckArgs) -> Result<()> {
    let mut report = Report { failures: 0 };
    report.verdict("plugin", Ok(format!("{} loaded, version {}", plugin.path().display(), plugin.version())));
    let server = match session::open(plugin, &args.server) {
        Ok(s) => s,
        Err(e) => {
            report.verdict("login and TLS", Err(e));
            bail!("1 check failed");
        }
    };
    let info = server.info()?;
    report.verdict("login and TLS", Ok(format!("{} ({})", info.name, info.version)));
    let skew = clock_skew(&info.location);
    report.verdict("clock", skew_verdict(&skew));
    let lsus = match &args.lsu {
        Some(l) => vec![l.clone()],
        None => server.lsus()?,
    };
    report.verdict("LSUs", if lsus.is_empty() { Err(anyhow::anyhow!("none")) } else { Ok(lsus.join(", ")) });
    for lsu in &lsus {
        let info = server.lsu_info(lsu);
        let capacity = info.as_ref().map(|i| format!("{} of {} used", fmt::size(i.used), fmt::size(i.capacity)));
        report.verdict(&format!("lsu {lsu}"), capacity.map_err(|e| e.clone().into()));
        if let Ok(i) = &info {
            let accepted = i.flags & VASTOST_LSUF_UNCONDITIONAL_ALLOWED != 0;
            if i.flags & VASTOST_LSUF_UNCONDITIONAL_WRITES != 0 && accepted {
                report.warn(
                    &format!("lsu {lsu} commits"),
                    "the S3 server ignores If-None-Match: * and allow_unconditional_writes = true accepts it: safe \
                     only while a single media server writes to this LSU",
                );
            }
            let commits = if i.flags & VASTOST_LSUF_UNCONDITIONAL_WRITES != 0 && accepted {
                Ok("writes allowed by allow_unconditional_writes (see the warning)".to_string())
            } else if i.flags & VASTOST_LSUF_UNCONDITIONAL_WRITES != 0 {
                Err(anyhow::anyhow!(
                    "the S3 server ignores If-None-Match: * (a second create of a key overwrites the first): two \
                     media servers could overwrite each other's commits, so the plugin refuses writes unless \
                     allow_unconditional_writes = true"
                ))
            } else {
                Ok("a second create of a key is refused (If-None-Match: *), commits are safe".to_string())
            };
            report.verdict(&format!("lsu {lsu} commits"), commits);
            if i.flags & STS_LSUF_WORM != 0 {
                let mode = if i.flags & STS_LSUF_WORM_COMPLIANCE != 0 { "compliance" } else { "governance" };
                let (min, max) = i.worm_bounds;
                report.verdict(
                    &format!("lsu {lsu} worm"),
                    Ok(format!("{mode} locks of {} to {}", fmt::span(min), fmt::span(max))),
                );
                if let Ok(Some(skew)) = &skew
                    && *skew > WORM_SKEW
                {
                    report.warn(
                        &format!("lsu {lsu} worm clock"),
                        &format!(
                            "the cluster's clock is {} s off ours: locks expire by the cluster's clock, so a delete \
                             right after an unlock time can be refused; fix NTP",
                            skew.as_secs()
                        ),
                    );
                }
            }
        }
        let flags = info.as_ref().map_or(0, |i| i.flags);
        if flags & VASTOST_LSUF_LOCKED_BY_DEFAULT != 0 {
            let books = if flags & VASTOST_LSUF_BOOKKEEPING_LOCKED != 0 {
                Err(anyhow::anyhow!(
                    "the view locks every new object (default retention), and the plugin's events, label and \
                     reclaim cursor are kept in it: they get locked too (events cannot be deleted); set \
                     bookkeeping_bucket to an unlocked bucket (vastost setup --worm --default creates one)"
                ))
            } else {
                Ok("the view locks every new object; the plugin's own records are in bookkeeping_bucket".to_string())
            };
            report.verdict(&format!("lsu {lsu} bookkeeping"), books);
            // A probe image would be locked there for the default period.
            report.verdict(
                &format!("lsu {lsu} access"),
                server
                    .images(lsu)
                    .map(|i| format!("{} images listed; no probe image written (the view would lock it)", i.len()))
                    .map_err(Into::into),
            );
            continue;
        }
        let worm = flags & STS_LSUF_WORM != 0;
        let probe = || -> Result<String> {
            let name = format!("vastost-check-{}", std::process::id());
            let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
            let mut img = server.create_image(lsu, &name, "check")?;
            img.write(&data, 0)?;
            if worm {
                // A complete image may be locked at once by the LSU's
                // default lock, and then kept: the probe stays pending.
                img.close(false)?;
                server.delete_image(lsu, &name, "check")?;
                return Ok("probe image written and deleted (left pending: a WORM LSU may lock complete images)".into());
            }
            img.close(true)?;
            let mut back = vec![0u8; data.len()];
            let mut r = server.open_image(lsu, &name, "check", STS_O_READ)?;
            let n = r.read(&mut back, 0)?;
            r.close(false)?;
            server.delete_image(lsu, &name, "check")?;
            if n as usize != data.len() || back != data {
                bail!("the probe image came back different");
            }
            Ok("probe image written, read back identical, deleted".into())
        };
        report.verdict(&format!("lsu {lsu} access"), probe());
    }
    match report.failures {
        0 => Ok(()),
        n => bail!("{n} check(s) failed"),
    }
}
