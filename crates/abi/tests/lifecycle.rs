//! init, terminate and what a dropped connection leaves, in a process of
//! their own (the plugin is one per process).

use vastost_testkit as support;

use std::path::Path;

use vastost_loader::Plugin;
use vastost_ost::sts_status::*;
use vastost_ost::*;

fn status<T: std::fmt::Debug>(r: Result<T, vastost_loader::OstError>) -> sts_status {
    r.expect_err("the call should fail").code().expect("a known status")
}

#[test]
fn init_terminate_and_dropped_connections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("lsu")).unwrap();
    let config = support::write_config(dir.path(), &data, "128MiB");
    let plugin = support::load();

    // Before init, every call that needs the plugin says so.
    assert_eq!(status(plugin.open_server("VastData:small", None)), STS_ENOTINIT);
    assert_eq!(status(plugin.stats()), STS_ENOTINIT);
    // A missing or broken configuration is a configuration error.
    assert_eq!(status(plugin.init(Some(Path::new("/nonexistent/vastost.toml")))), STS_ECONFIG);
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[server.x]\nfragment_size = \"banana\"\n").unwrap();
    let err = plugin.init(Some(&broken)).unwrap_err();
    assert_eq!(err.code(), Some(STS_ECONFIG));
    assert!(err.message.contains("broken.toml"), "{}", err.message);
    let missing_dir = dir.path().join("nomount.toml");
    std::fs::write(&missing_dir, "[server.gone]\ndirectory = \"/nonexistent/mount\"\n").unwrap();

    let info = plugin.init(Some(&config)).unwrap();
    assert_eq!((info.stype.as_str(), info.vendor.as_str()), ("VastData", "VAST Data"));
    assert_eq!(info.flags & STS_PI_MT, STS_PI_MT);
    plugin.init(Some(&config)).expect("a second init keeps the running plugin");

    // A backup in progress when the connection drops (terminate stands in
    // for the media server process going away).
    let server = plugin.open_server("VastData:small", None).unwrap();
    let mut img = server.create_image("lsu", "dropped", "1").unwrap();
    img.write(&vec![5u8; 192 * 1024], 0).unwrap();
    img.flush().unwrap();
    img.write(&vec![6u8; 64 * 1024], 192 * 1024).unwrap();
    let (server_raw, image_raw) = (server.raw(), img.raw());
    img.abandon();
    std::mem::forget(server);
    plugin.terminate().unwrap();
    assert_eq!(status(plugin.open_server("VastData:small", None)), STS_ENOTINIT);

    plugin.init(Some(&config)).unwrap();
    let api = plugin.api();
    let mut n = 0;
    // SAFETY: handles from before terminate: the plugin must reject them.
    unsafe {
        assert_eq!((api.stspi_close_server)(server_raw), STS_EBADHANDLE as i32);
        assert_eq!(
            (api.stspi_write_image)(image_raw, std::ptr::null(), [0u8; 512].as_ptr().cast(), 512, 0, &mut n),
            STS_EBADHANDLE as i32
        );
    }
    let server = plugin.open_server("VastData:small", None).unwrap();
    let info = server.image_info("lsu", "dropped", "1").unwrap();
    assert_eq!(info.flags, STS_II_IMAGE_PENDING, "BUSY_WRITE cleared, still pending");
    assert_eq!(info.size, 192 * 1024, "only what was flushed is there");
    // The backup resumes from its checkpoint.
    let mut img = server.open_image("lsu", "dropped", "1", STS_O_WRITE).unwrap();
    img.write(&vec![6u8; 64 * 1024], 192 * 1024).unwrap();
    img.close(true).unwrap();
    let mut r = server.open_image("lsu", "dropped", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; 256 * 1024];
    assert_eq!(r.read(&mut back, 0).unwrap(), 256 * 1024);
    assert!(back[..192 * 1024].iter().all(|b| *b == 5) && back[192 * 1024..].iter().all(|b| *b == 6));
    drop(r);

    // Events are kept on the storage: a new plugin instance (after the
    // restart) still finds them, in order, until somebody deletes them.
    server.copy_image("lsu", ("dropped", "1"), &server, "lsu", ("dup", "1")).unwrap();
    drop(server);
    plugin.terminate().unwrap();
    plugin.init(Some(&config)).unwrap();
    let server = plugin.open_server("VastData:small", None).unwrap();
    let mut channel = server.events().unwrap();
    let mut seen = Vec::new();
    while let Some(e) = channel.next_event().unwrap() {
        seen.push((e.kind, e.image.basename.clone()));
        channel.delete(&e).unwrap();
    }
    let want = [
        (STS_EVT_IMAGE_CREATED, "dropped".to_string()),
        (STS_EVT_IMAGE_CREATED, "dup".to_string()),
        (STS_EVT_COPY_DONE, "dup".to_string()),
    ];
    assert_eq!(seen, want);
    assert!(server.events().unwrap().next_event().unwrap().is_none(), "deleted events are gone");
    drop(channel);

    // Every create, copy, delete and label leaves an audit line.
    server.label_lsu("lsu", "audited").unwrap();
    server.delete_image("lsu", "dup", "1").unwrap();
    let logs: String = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    for (what, image) in
        [("created image", "dropped"), ("copied image", "dup"), ("deleted image", "dup"), ("labelled LSU", "audited")]
    {
        assert!(
            logs.lines().any(|l| l.contains("audit") && l.contains(what) && l.contains(image)),
            "no audit line for {what} {image}"
        );
    }

    // A server whose data directory is missing (NFS not mounted) is refused,
    // and nothing is created in its place.
    drop(server);
    plugin.terminate().unwrap();
    plugin.init(Some(&missing_dir)).unwrap();
    assert_eq!(status(plugin.open_server("VastData:gone", None)), STS_ECONFIG);
    assert!(!Path::new("/nonexistent/mount").exists());
    plugin.terminate().unwrap();
}

#[test]
fn the_single_threaded_library_name_is_the_same_plugin() {
    let mt = support::plugin_path();
    let st = mt.with_file_name("libstspiVastData.so");
    let plugin = Plugin::load(&st).expect("libstspiVastData.so loads");
    assert_eq!(plugin.version(), vastost_abi::VERSION);
    assert_eq!(plugin.strerror(STS_EBUSY as i32), "object is busy");
}
