//! Servers and LSUs.

use vastost_ost::sts_status::*;
use vastost_ost::*;

use crate::{fixture, open, status};

#[test]
fn claims_only_vastdata_servers() {
    let p = &fixture().plugin;
    p.claim("VastData:cluster1").unwrap();
    p.claim("vast://cluster1").unwrap();
    for other in ["DataDomain:dd1", "cluster1", "VastData:", "vast://", ""] {
        assert_eq!(status(p.claim(other)), STS_ECLAIM, "{other}");
    }
}

#[test]
fn server_properties_advertise_what_works() {
    let (s, _) = open("small", "srv_props");
    let i = s.info().unwrap();
    assert_eq!(i.name, "VastData:small");
    assert_eq!(i.flags & STS_SRV_DISK, STS_SRV_DISK);
    assert_eq!(i.flags & (STS_SRV_IMAGE_COPY | STS_SRV_EVENTS), STS_SRV_IMAGE_COPY | STS_SRV_EVENTS);
    for bit in [
        STS_SRVC_CREATE_IMAGE,
        STS_SRVC_READ_IMAGE,
        STS_SRVC_DELETE_IMAGE,
        STS_SRVC_WRITE_IMAGE_RANDOM,
        STS_SRVC_FLUSH,
        STS_SRVC_CHECKPOINT,
        STS_SRVC_LIST_IMAGE,
        STS_SRVC_IMAGE_META,
        STS_SRVC_LABEL_LSU,
        STS_SRVC_OPEN_TARGET_SERVER,
        STS_SRVC_COPY_EXTENT,
        STS_SRVC_COPY_IMAGE,
        STS_SRVC_ASYNC_COPY_IMAGE,
        STS_SRVC_NAMED_ASYNC_COPY,
        STS_SRVC_INCLUDE_IN_IMAGE,
        STS_SRVC_EVENTS,
    ] {
        assert!(i.has(bit), "capability {bit} should be advertised");
    }
    let by_name = fixture().plugin.server_info_byname("vast://small").unwrap();
    assert_eq!(by_name.cap, i.cap);
    assert_eq!(status(fixture().plugin.server_info_byname("VastData:nowhere")), STS_ENOSERVER);
    assert_eq!(status(fixture().plugin.open_server("VastData:nowhere", None)), STS_ENOSERVER);
    assert_eq!(status(fixture().plugin.open_server("Other:small", None)), STS_ECLAIM);
}

#[test]
fn lsus_are_listed_described_and_labelled() {
    let (s, lsu) = open("small", "lsu_props");
    std::fs::create_dir_all(fixture().data.join(".hidden")).unwrap();
    let names = s.lsus().unwrap();
    assert!(names.contains(&lsu), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");
    let i = s.lsu_info(&lsu).unwrap();
    assert_eq!(i.name, lsu);
    if !crate::S3 {
        // A bucket's capacity comes from VMS quotas, not available yet.
        assert!(i.capacity > 0 && i.used > 0 && i.used <= i.capacity, "{i:?}");
    }
    assert_eq!(i.flags & (STS_LSUF_DISK | STS_LSUF_ACTIVE), STS_LSUF_DISK | STS_LSUF_ACTIVE);
    assert_eq!(i.label, "");
    s.label_lsu(&lsu, "weekly fulls").unwrap();
    assert_eq!(s.lsu_info(&lsu).unwrap().label, "weekly fulls");
    assert_eq!(status(s.label_lsu(&lsu, "bad\nlabel")), STS_EINVAL);
    let missing = s.lsu_info("no-such-lsu").unwrap_err();
    assert_eq!(missing.code(), Some(STS_ENOLSU), "{}", missing.message);
    assert_eq!(status(s.lsu_info("../escape")), STS_EINVAL);
}

#[test]
fn lsu_use_grows_as_data_is_written() {
    if crate::S3 {
        // A bucket's use comes from VMS quotas, which this suite does not run yet.
        return;
    }
    let (s, lsu) = open("small", "lsu_growth");
    let before = s.lsu_info(&lsu).unwrap().used;
    let mut img = s.create_image(&lsu, "grow", "1").unwrap();
    img.write(&vec![7u8; 8 << 20], 0).unwrap();
    img.close(true).unwrap();
    let after = s.lsu_info(&lsu).unwrap().used;
    // The filesystem is shared with everything else on the machine, so only
    // a lower bound holds: at least most of what we wrote is now in use.
    assert!(after + (1 << 20) >= before + (8 << 20) || after > before, "used {before} -> {after}");
}
