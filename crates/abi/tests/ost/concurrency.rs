//! Many streams at once, each with its own handles, as NetBackup runs them.

use vastost_abi::ost::STS_O_READ;

use crate::support::bytes;
use crate::{fixture, open};

#[test]
fn sixteen_concurrent_streams() {
    let (_, lsu) = open("small", "concurrent");
    let plugin = &fixture().plugin;
    std::thread::scope(|scope| {
        for t in 0..16u64 {
            let lsu = &lsu;
            scope.spawn(move || {
                let s = plugin.open_server("VastData:small", None).unwrap();
                let data = bytes(500 + t, (1 << 20) + 512 * t as usize);
                let name = format!("stream_{t}");
                let mut img = s.create_image(lsu, &name, "1").unwrap();
                for (i, chunk) in data.chunks(128 * 1024).enumerate() {
                    img.write(chunk, (i * 128 * 1024) as u64).unwrap();
                    if i % 3 == 0 {
                        // Listings and property calls run meanwhile.
                        s.images(lsu).unwrap();
                        img.info().unwrap();
                    }
                }
                img.close(true).unwrap();
                let mut r = s.open_image(lsu, &name, "1", STS_O_READ).unwrap();
                let mut back = vec![0u8; data.len()];
                assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
                assert!(back == data, "stream {t} differs");
                r.close(false).unwrap();
                s.delete_image(lsu, &name, "1").unwrap();
            });
        }
    });
    let s = plugin.open_server("VastData:small", None).unwrap();
    assert!(s.images(&lsu).unwrap().is_empty());
    let stats = plugin.stats().unwrap();
    assert!(stats.vs_budget_peak <= stats.vs_budget_total, "{stats:?}");
}
