//! `vastost setup`: provisions a cluster through VMS and writes the plugin's
//! configuration and S3 credentials. Rerunning it creates nothing new and
//! keeps the keys it wrote before (no key churn).

use anyhow::{Context, Result};
use vastost_tls::TlsSettings;
use vastost_vms::{Auth, ProvisionPlan, VmsClient, VmsConfig, WormPlan, period_secs};

use crate::args::SetupArgs;

#[derive(serde::Deserialize)]
struct Keys {
    access_key: String,
    secret_key: String,
}

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

    let existing_keys = std::fs::read_to_string(&args.credentials_out)
        .ok()
        .and_then(|t| toml::from_str::<Keys>(&t).ok())
        .filter(|k| !k.access_key.is_empty() && !k.secret_key.is_empty());
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
    let mut text = format!(
        "# Written by vastost setup.\n[server.\"{}\"]\ndata_path = \"s3\"\nendpoint = {:?}\ncredentials_file = {:?}\n\
         vms_endpoint = {:?}\nlsus = {:?}\n",
        args.server,
        args.s3_endpoint,
        credentials.display().to_string(),
        args.vms,
        args.buckets
    );
    if let Some(mode) = &args.worm {
        // The bounds are read from the view when VMS answers; these are
        // for when it does not.
        let secs = |p: &str, m_is_minutes| period_secs(p, m_is_minutes).unwrap_or(0);
        text += &format!(
            "worm_mode = {mode:?}\nworm_min_secs = {}\nworm_max_secs = {}\n",
            secs(&args.min, false),
            secs(&args.max, true)
        );
    }
    if let Some(books) = &plan.bookkeeping {
        text += &format!("bookkeeping_bucket = {books:?}\n");
    }
    if let Some(ca) = &args.ca_bundle {
        text += &format!("ca_bundle = {:?}\n", std::path::absolute(ca)?.display().to_string());
    }
    let unchanged = std::fs::read_to_string(&args.config_out).is_ok_and(|old| old == text);
    std::fs::write(&args.config_out, &text).with_context(|| format!("cannot write {}", args.config_out.display()))?;
    println!("{}  {}", if unchanged { "exists  " } else { "written " }, args.config_out.display());
    Ok(())
}
