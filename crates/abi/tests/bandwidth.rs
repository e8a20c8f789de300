//! Bandwidth limits through the C ABI: `max_write_bandwidth` and
//! `max_read_bandwidth` hold for every stream of the process together, and
//! a changed configuration applies at the next `open_server`, without a
//! restart. (A process of its own: one plugin per process.)

use std::path::Path;
use std::time::Instant;

use vastost_ost::STS_O_READ;
use vastost_testkit as support;

const MIB: u64 = 1 << 20;

fn config(path: &Path, data: &Path, write_mib: u64, read_mib: u64) {
    let text = format!(
        "[plugin]\nstate_dir = \"{}\"\n[server.\"lim\"]\ndirectory = \"{}\"\nfragment_size = \"1MiB\"\n\
         max_write_bandwidth = \"{write_mib}MiB\"\nmax_read_bandwidth = \"{read_mib}MiB\"\n",
        path.with_extension("state").display(),
        data.display()
    );
    std::fs::write(path, text).unwrap();
}

/// Bytes per second of `bytes` moved in the time `f` took.
fn rate(bytes: u64, f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    bytes as f64 / started.elapsed().as_secs_f64()
}

fn assert_near(what: &str, got: f64, limit_mib: u64) {
    let limit = (limit_mib * MIB) as f64;
    let ratio = got / limit;
    println!("{what}: {:.2} MiB/s for a limit of {limit_mib} MiB/s ({ratio:.3}x)", got / MIB as f64);
    assert!((0.9..=1.1).contains(&ratio), "{what}: {:.2} MiB/s for a limit of {limit_mib} MiB/s", got / MIB as f64);
}

#[test]
fn limits_hold_for_all_streams_together_and_change_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("lsu1")).unwrap();
    let cfg = dir.path().join("vastost.toml");
    config(&cfg, &data, 8, 16);
    let plugin = support::load();
    plugin.init(Some(&cfg)).unwrap();
    let block = support::bytes(1, MIB as usize);

    // Two streams at once share the 8 MiB/s: 16 MiB take two seconds.
    let both = rate(16 * MIB, || {
        std::thread::scope(|scope| {
            for name in ["a", "b"] {
                let (plugin, block) = (&plugin, &block);
                scope.spawn(move || {
                    let s = plugin.open_server("VastData:lim", None).unwrap();
                    let mut img = s.create_image("lsu1", name, "1").unwrap();
                    for i in 0..8 {
                        img.write(block, i * MIB).unwrap();
                    }
                    img.close(true).unwrap();
                });
            }
        })
    });
    assert_near("two writers", both, 8);

    let s = plugin.open_server("VastData:lim", None).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    // Both images twice: 32 MiB, two seconds at 16 MiB/s.
    let read = rate(32 * MIB, || {
        for name in ["a", "b", "a", "b"] {
            let mut img = s.open_image("lsu1", name, "1", STS_O_READ).unwrap();
            for i in 0..8 {
                assert_eq!(img.read(&mut buf, i * MIB).unwrap(), MIB);
            }
        }
    });
    assert_near("reader", read, 16);
    drop(s);

    // A new limit in the file applies at the next open_server.
    config(&cfg, &data, 32, 16);
    let s = plugin.open_server("VastData:lim", None).unwrap();
    let faster = rate(16 * MIB, || {
        let mut img = s.create_image("lsu1", "c", "1").unwrap();
        for i in 0..16 {
            img.write(&block, i * MIB).unwrap();
        }
        img.close(true).unwrap();
    });
    assert_near("after the change", faster, 32);
    drop(s);
    plugin.terminate().unwrap();
}
