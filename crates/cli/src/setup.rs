//! `vastost setup`: provisions a cluster through VMS and writes the plugin's
//! configuration and S3 credentials. Rerunning it creates nothing new and
//! keeps the keys it wrote before (no key churn).

use anyhow::{Context, Result};
use vastost_config::{Config, DataPath, S3Keys, ServerConfig, Vms, WormMode, WormPolicy};
use vastost_tls::TlsSettings;
use vastost_vms::{Auth, ProvisionPlan, VmsClient, VmsConfig, WormPlan, period_secs};

use crate::args::SetupArgs;

/// Runs the setup.
pub fn run(args: &SetupArgs) -> Result<()> {
    let password = crate::secrets::read_password(&args.vms_password_file)?;
    let tls = TlsSettings { ca_bundle: args.ca_bundle.clone(), verify: true };
    let http = vastost_tls::http_client(&tls, &args.vms)?;
    let vms = VmsClient::new(VmsConfig::new(&args.vms, Auth::Jwt { user: args.vms_user.clone(), password }), http);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let plan = ProvisionPlan {
        s3_user: args.s3_user.clone(),
        buckets: args.buckets.clone(),
        quota: args.quota.map(|q| q.0),
        policy: "s3_default_policy".into(),
        tenant: args.tenant.clone(),
        worm: args.worm.as_ref().map(|mode| WormPlan {
            mode: mode.to_ascii_uppercase(),
            min: args.min.clone(),
            max: args.max.clone(),
            default: args.default.clone(),
        }),
        bookkeeping: args.default.as_ref().map(|_| args.bookkeeping_bucket.clone()),
    };
    let cluster = rt.block_on(vms.cluster()).context("cannot reach VMS")?;
    println!("cluster {} ({}, {})", cluster.name, cluster.sw_version, cluster.state);
    if args.dry_run {
        let would = rt.block_on(vms.plan(&plan)).context("cannot read the cluster's state")?;
        for item in &would.create {
            println!("would create  {item}");
        }
        for item in &would.existing {
            println!("exists        {item}");
        }
        let keys = std::fs::metadata(&args.credentials_out).is_ok();
        println!(
            "{}  S3 keys in {}",
            if keys { "exists       " } else { "would create " },
            args.credentials_out.display()
        );
        println!("would write   {}", args.config_out.display());
        return Ok(());
    }
    let done = rt.block_on(vms.provision(&plan)).context("provisioning failed")?;
    for item in &done.created {
        println!("created  {item}");
    }
    for item in &done.existing {
        println!("exists   {item}");
    }

    let existing_keys = std::fs::read_to_string(&args.credentials_out).ok().and_then(|t| S3Keys::from_toml(&t));
    if existing_keys.is_some() {
        println!("exists   S3 keys in {}", args.credentials_out.display());
    } else {
        let (access_key, secret_key) = rt.block_on(vms.create_access_key(done.user_id))?;
        crate::secrets::write_credentials(&args.credentials_out, &access_key, &secret_key)?;
        println!(
            "created  S3 access key {access_key} for {} (secret in {})",
            args.s3_user,
            args.credentials_out.display()
        );
    }

    let credentials = std::path::absolute(&args.credentials_out)?;
    let mut server = ServerConfig::s3(&args.s3_endpoint, credentials);
    server.vms = Some(Vms::at(&args.vms));
    server.lsus = args.buckets.clone();
    if let Some(mode) = &args.worm {
        // The bounds are read from the view when VMS answers; these are
        // for when it does not.
        let secs = |p: &str, m_is_minutes| period_secs(p, m_is_minutes).unwrap_or(0);
        let mode = if mode == "governance" { WormMode::Governance } else { WormMode::Compliance };
        server.worm = Some(WormPolicy {
            mode,
            min_secs: secs(&args.min, false),
            max_secs: secs(&args.max, true),
            default_secs: None,
        });
    }
    if let DataPath::S3(s3) = &mut server.data {
        s3.bookkeeping_bucket = plan.bookkeeping.clone();
    }
    if let Some(ca) = &args.ca_bundle {
        server.tls.ca_bundle = Some(std::path::absolute(ca)?);
    }
    let config = Config { servers: [(args.server.clone(), server)].into(), ..Config::default() };
    let text = format!("# Written by vastost setup.\n{}", config.to_toml());
    let unchanged = std::fs::read_to_string(&args.config_out).is_ok_and(|old| old == text);
    std::fs::write(&args.config_out, &text).with_context(|| format!("cannot write {}", args.config_out.display()))?;
    println!("{}  {}", if unchanged { "exists  " } else { "written " }, args.config_out.display());
    Ok(())
}
