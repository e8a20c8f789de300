//! `vastost sim`: a VAST cluster simulator (S3 and VMS endpoints) in the
//! foreground, printing its endpoints for scripts (part of the lab).

use std::io::{self, Write};

use anyhow::{Context, Result};

/// Runs `vastost sim` until it is stopped.
pub fn run(args: &crate::args::SimArgs) -> Result<()> {
    let tls = args.tls.then(vastost_sim::SimTls::self_signed).transpose()?;
    let ca = match &tls {
        Some(t) => {
            std::fs::create_dir_all(&args.data)?;
            let path = std::path::absolute(args.data.join(".vastost-sim-ca.pem"))?;
            std::fs::write(&path, &t.cert_pem).with_context(|| format!("cannot write {}", path.display()))?;
            Some(path)
        }
        None => None,
    };
    let options = vastost_sim::SimOptions { tls, ..args.network.sim_options(args.in_memory) };
    let sim = vastost_sim::Simulator::start_with_options(&args.data, args.listen, options)?;
    sim.vms().set_token_lifetime(std::time::Duration::from_secs(args.token_lifetime));
    for bucket in &args.buckets {
        sim.create_bucket(bucket).with_context(|| format!("cannot create bucket {bucket}"))?;
    }
    if let Some(path) = &args.credentials_out {
        crate::secrets::write_credentials(path, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
    }
    // Lines a script can read to learn the ports.
    println!("s3 endpoint: {}", sim.s3_endpoint());
    println!("vms endpoint: {}", sim.vms_endpoint());
    if let Some(ca) = &ca {
        println!("ca bundle: {}", ca.display());
    }
    eprintln!(
        "VAST simulator: buckets in {}, S3 access key {}, VMS user admin; stop with Ctrl-C",
        sim.data().display(),
        vastost_sim::ACCESS_KEY
    );
    io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}
