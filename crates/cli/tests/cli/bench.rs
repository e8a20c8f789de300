//! `vastost bench` end to end, small: every client's rows are printed with
//! figures, and the scale measure checks its own counts.

use std::process::Command;

use crate::support;

fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .arg("bench")
        .args(args)
        .env("VASTOST_PLUGIN", support::plugin_path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The row of `client` for `phase`: MiB/s, spread, CPU s/GiB are numbers.
fn row<'a>(out: &'a str, phase: &str, client: &str) -> &'a str {
    let line = out
        .lines()
        .find(|l| l.contains(&format!(" {phase} ")) && l.contains(client))
        .unwrap_or_else(|| panic!("no {phase} row for {client}:\n{out}"));
    let rest = line.split_once(client).unwrap().1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    assert!(fields[0].parse::<f64>().is_ok_and(|v| v > 0.0), "{line}");
    assert!(fields[2].parse::<f64>().is_ok(), "{line}");
    line
}

#[test]
fn the_throughput_bench_prints_every_client_with_speed_spread_and_cpu() {
    let out = bench(&["--size", "8MiB", "--streams", "1", "--repeat", "2", "--fragment-size", "1MiB"]);
    for phase in ["backup", "restore"] {
        row(&out, phase, "plugin");
        row(&out, phase, "plain file I/O");
    }
    assert!(out.contains("warm (nothing evicted)"), "{out}");
    let out =
        bench(&["--s3", "--size", "8MiB", "--streams", "1", "--repeat", "1", "--fragment-size", "1MiB", "--cold"]);
    for phase in ["backup", "restore"] {
        for client in ["plugin", "aws-cli", "rclone", "rclone tuned"] {
            row(&out, phase, client);
        }
    }
    assert!(out.contains("rclone download:") && out.contains("rclone cat vast:lsu1/"), "{out}");
}

#[test]
fn the_scale_bench_counts_requests_on_the_simulator() {
    let out = bench(&["--images", "40", "--s3"]);
    let requests = |step: &str| -> u64 {
        let line = out.lines().find(|l| l.contains(step)).unwrap_or_else(|| panic!("{out}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields[fields.len() - 2].parse().unwrap_or_else(|_| panic!("{line}"))
    };
    // One listing request for the folders, then three an image: its
    // dates, its records, the newest record.
    assert_eq!(requests("list: all"), 1 + 3 * 40, "{out}");
    assert_eq!(requests("lookup by name"), 2 * 40, "a lookup costs two requests: {out}");
    assert!(out.contains("40 images checked, 20 removed"), "{out}");
}

#[test]
fn the_jobs_bench_runs_a_process_per_job_on_both_data_paths() {
    // NFS: the plugin's jobs beside dd writing and reading plain files.
    let out = bench(&["--jobs", "2", "--size", "1MiB"]);
    for phase in ["backup", "restore"] {
        for client in ["vastost (plugin)", "dd (plain files)"] {
            let line = out
                .lines()
                .find(|l| l.starts_with(phase) && l.contains(client))
                .unwrap_or_else(|| panic!("no {phase} row for {client}:\n{out}"));
            let fields: Vec<&str> = line.split_once(client).unwrap().1.split_whitespace().collect();
            assert_eq!(fields[0], "2", "{line}");
            assert!(fields[1].parse::<f64>().is_ok_and(|v| v > 0.0), "a speed, not FAILED: {line}");
            assert_eq!(fields[7], "-", "no S3 requests on NFS: {line}");
        }
    }
    assert!(out.contains("NFS data path"), "{out}");
    // S3: the plugin's jobs count their requests.
    let out = bench(&["--s3", "--jobs", "1", "--size", "4KiB", "--in-memory"]);
    let line = out.lines().find(|l| l.starts_with("backup") && l.contains("vastost (plugin)")).unwrap();
    let fields: Vec<&str> = line.split_once("vastost (plugin)").unwrap().1.split_whitespace().collect();
    assert!(fields[7].parse::<f64>().is_ok_and(|r| r > 0.0), "S3 requests counted: {line}");
}
