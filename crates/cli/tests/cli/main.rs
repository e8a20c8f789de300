//! The real `vastost` binary against the real plugin library.

use vastost_testkit as support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("lsu1")).unwrap();
    let config = support::write_config(dir.path(), &data, "256MiB");
    Env { dir, config }
}

fn vastost(env: &Env, args: &[&str]) -> Output {
    vastost_stdin(env, args, None)
}

fn vastost_stdin(env: &Env, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vastost"));
    cmd.args(args)
        .env("VASTOST_CONFIG", &env.config)
        .env("VASTOST_PLUGIN", support::plugin_path())
        .env("VASTOST_SERVER", "VastData:small")
        .env("VASTOST_LSU", "lsu1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("vastost runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Starts `vastost backup --image <image> --date 1` reading the image from
/// a pipe the test writes to (its stdin), as a backup in progress.
fn piped_backup(env: &Env, image: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["backup", "--image", image, "--date", "1", "--block", "64KiB"])
        .env("VASTOST_CONFIG", &env.config)
        .env("VASTOST_PLUGIN", support::plugin_path())
        .env("VASTOST_SERVER", "VastData:small")
        .env("VASTOST_LSU", "lsu1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vastost runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "vastost failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Starts `vastost sim` and returns it with its S3 and VMS endpoints.
/// Starts `vastost sim` over `dir/sim` and reads the endpoints it prints
/// (and, with `--tls`, the CA bundle).
fn start_sim(dir: &Path, extra: &[&str]) -> (std::process::Child, String, String) {
    let (child, s3, vms, _) = start_sim_with_ca(dir, extra);
    (child, s3, vms)
}

fn start_sim_with_ca(dir: &Path, extra: &[&str]) -> (std::process::Child, String, String, Option<String>) {
    use std::io::BufRead;
    let data = dir.join("sim");
    let mut args = vec!["sim", "--data", path(&data)];
    args.extend(extra);
    let mut sim = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(sim.stdout.take().unwrap()).lines();
    let mut next = |prefix: &str| {
        let line = lines.next().unwrap().unwrap();
        line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line}")).to_string()
    };
    let s3 = next("s3 endpoint: ");
    let vms = next("vms endpoint: ");
    let ca = extra.contains(&"--tls").then(|| next("ca bundle: "));
    (sim, s3, vms, ca)
}

/// The simulator's VMS administrator password in a file of `dir` only its
/// owner reads, as `setup --vms-password-file` wants it.
fn admin_password_file(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let password = dir.join("admin.pw");
    std::fs::write(&password, "123456\n").unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    password
}

/// The files and folders directly in `dir`, by name.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

mod bench;
mod commands;
mod corpus;
mod damage;
mod formats;
mod locked_default;
mod provisioning;
mod round_trips;
mod simulator;
mod space;
mod stats;
mod worm;
