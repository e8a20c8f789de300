//! The metrics file a running plugin process writes, and `vastost stats`
//! reading it.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::{env, ok, path, vastost};

#[test]
fn a_running_backup_shows_in_its_metrics_file_and_in_vastost_stats() {
    let env = env();
    let metrics = env.dir.path().join("metrics");
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replacen(
        "[plugin]\n",
        &format!("[plugin]\nmetrics_dir = \"{}\"\nmetrics_interval_secs = 1\n", metrics.display()),
        1,
    );
    std::fs::write(&env.config, text).unwrap();
    // The file of a process that is gone (killed before it could remove it).
    std::fs::create_dir_all(&metrics).unwrap();
    let stale = metrics.join("vastost-999999999.prom");
    std::fs::write(&stale, "vastost_transfer_bytes_total{pid=\"999999999\"} 1\n").unwrap();

    let mut backup = crate::piped_backup(&env, "live");
    let mut input = backup.stdin.take().unwrap();
    input.write_all(&vec![7u8; 4 << 20]).unwrap();
    input.flush().unwrap();
    let file = metrics.join(format!("vastost-{}.prom", backup.id()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let written = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let bytes: f64 = text
            .lines()
            .filter(|l| l.starts_with("vastost_transfer_bytes_total{") && l.contains("direction=\"write\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if bytes >= (4 << 20) as f64 {
            break text;
        }
        assert!(Instant::now() < deadline, "no metrics of the backup in {}:\n{text}", file.display());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(written.contains(&format!("pid=\"{}\"", backup.id())), "{written}");
    assert!(written.contains("lsu=\"lsu1\""), "{written}");
    assert!(written.contains("vastost_memory_budget_bytes{"), "{written}");
    assert!(written.contains("kind=\"image"), "the open image is counted: {written}");
    assert!(!stale.exists(), "the file of a process that is gone is removed");

    let shown = ok(&vastost(&env, &["stats", "--dir", path(&metrics)]));
    let row = shown.lines().find(|l| l.contains("lsu1") && l.contains("write")).unwrap_or_else(|| panic!("{shown}"));
    assert!(row.contains("4.0 MiB"), "{row}");
    assert!(shown.contains("1 plugin process(es)"), "{shown}");

    drop(input);
    let out = backup.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!file.exists(), "a process removes its file at terminate");
    // Without --dir, the configuration says where.
    let shown = ok(&vastost(&env, &["stats"]));
    assert!(shown.contains("0 plugin process(es)"), "{shown}");
}
