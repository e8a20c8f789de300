//! The S3 data path against moto's server, an S3 implementation
//! independent of the simulator's: a whole image life cycle through the
//! plugin's C ABI.

use vastost_testkit as support;

use vastost_ost::sts_status::*;
use vastost_ost::*;
use vastost_sim::moto::Moto;

/// The plugin, initialized with server `VastData:moto` on `moto`, LSU `lsu`.
fn plugin_on(moto: &Moto, lsu: &str) -> (tempfile::TempDir, vastost_loader::Plugin) {
    let dir = tempfile::tempdir().unwrap();
    let creds = support::write_s3_credentials(dir.path(), "AKIAINTEROP", "interop-secret");
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"moto\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\n\
             lsus = [\"{lsu}\"]\nfragment_size = \"64KiB\"\n",
            moto.endpoint(),
            creds.display()
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    (dir, plugin)
}

#[test]
fn image_life_cycle_over_moto() {
    let _turn = support::turn();
    let moto = Moto::start().expect("moto_server (pip install 'moto[server]')");
    moto.create_bucket("interop").unwrap();
    let (_dir, plugin) = plugin_on(&moto, "interop");
    let s = plugin.open_server("VastData:moto", None).unwrap();
    assert_eq!(s.lsus().unwrap(), ["interop"]);

    let data = support::bytes(77, 7 * 32 * 1024 + 512);
    let cut = 3 * 32 * 1024;
    let mut img = s.create_image("interop", "moto_1_C1_F1", "1").unwrap();
    img.write(&data[..cut], 0).unwrap();
    img.write_meta(b"interop", 0).unwrap();
    img.close(false).unwrap();
    assert_eq!(s.image_info("interop", "moto_1_C1_F1", "1").unwrap().flags, STS_II_IMAGE_PENDING);
    let mut img = s.open_image("interop", "moto_1_C1_F1", "1", STS_O_WRITE).unwrap();
    img.write(&data[cut..], cut as u64).unwrap();
    img.close(true).unwrap();

    let listed = s.images("interop").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].size, listed[0].flags), (data.len() as u64, STS_II_IMAGE_CREATED));
    let mut r = s.open_image("interop", "moto_1_C1_F1", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; data.len() + 4096];
    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
    assert!(back[..data.len()] == data[..], "bytes restored from moto differ");
    let mut meta = [0u8; 16];
    assert_eq!(r.read_meta(&mut meta, 0).unwrap(), 7);
    drop(r);
    assert_eq!(s.create_image("interop", "moto_1_C1_F1", "1").unwrap_err().code(), Some(STS_EEXIST));
    s.delete_image("interop", "moto_1_C1_F1", "1").unwrap();
    assert!(s.images("interop").unwrap().is_empty());
    assert_eq!(s.lsu_info("missing-bucket").unwrap_err().code(), Some(STS_ENOLSU));
    drop(s);
    plugin.terminate().unwrap();
}

#[test]
fn reclaim_aborts_multipart_uploads_older_than_the_abandon_age() {
    let _turn = support::turn();
    let moto = Moto::start().expect("moto_server (pip install 'moto[server]')");
    moto.create_bucket("mpu-pool").unwrap();
    // What a writer killed in the middle of a fragment's upload leaves,
    // and one of another program's, outside the images.
    moto.start_upload("mpu-pool", "images/killed/1/frag/0000000003-0123456789abcdef").unwrap();
    moto.start_upload("mpu-pool", "images/killed/1/frag/0000000004-0123456789abcdef").unwrap();
    moto.start_upload("mpu-pool", "not-ours/video.mp4").unwrap();
    assert_eq!(moto.uploads("mpu-pool").unwrap(), 3);
    let (_dir, plugin) = plugin_on(&moto, "mpu-pool");
    let s = plugin.open_server("VastData:moto", None).unwrap();
    // moto dates every upload 2010-11-10: older than the default 24 hours.
    let report = s.reclaim(Some("mpu-pool"), Some(0), None).unwrap();
    assert_eq!(report.vr_uploads_aborted, 2);
    assert_eq!(moto.uploads("mpu-pool").unwrap(), 1, "only the images' uploads are the plugin's to abort");
    drop(s);
    plugin.terminate().unwrap();
}
