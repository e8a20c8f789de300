//! Optimized duplication, virtual images, background copies, events and
//! space reclamation, through the C ABI.

use vastost_loader::{Image, Server};
use vastost_ost::sts_status::*;
use vastost_ost::*;

use crate::support::bytes;
use crate::{fixture, open, status};

/// `"small"` stores 64 KiB fragments.
const FRAG: usize = 64 << 10;

fn backup(s: &Server<'_>, lsu: &str, name: &str, data: &[u8]) {
    crate::support::backup(s, lsu, name, data, 48 << 10).unwrap();
}

/// Reads in 40 KiB steps: never aligned with the 64 KiB fragments.
fn restore(s: &Server<'_>, lsu: &str, name: &str) -> Vec<u8> {
    crate::support::restore(s, lsu, name, 40 << 10).unwrap()
}

/// Stored data fragments of `lsu`.
fn fragments(lsu: &str) -> usize {
    fixture().stored().fragments(lsu, "")
}

fn reader<'p>(s: &Server<'p>, lsu: &str, name: &str) -> Image<'p> {
    s.open_image(lsu, name, "1", STS_O_READ).unwrap()
}

#[test]
fn a_copy_within_the_server_moves_no_data_and_outlives_its_source() {
    let (s, a) = open("small", "copy_a");
    let (_, b) = open("small", "copy_b");
    let data = bytes(11, 9 * FRAG + 3 * 512);
    backup(&s, &a, "src", &data);
    let before = fragments(&a) + fragments(&b);
    // Into another LSU of the same server, and through a second handle on
    // it from open_target_server.
    s.copy_image(&a, ("src", "1"), &s, &b, ("dup", "1")).unwrap();
    let same = s.open_target(s.info().unwrap().name.as_str(), None).unwrap();
    s.copy_image(&a, ("src", "1"), &same, &a, ("dup2", "1")).unwrap();
    assert_eq!(fragments(&a) + fragments(&b), before, "no data was copied");
    assert_eq!(restore(&s, &b, "dup"), data);
    assert_eq!(restore(&s, &a, "dup2"), data);
    assert_eq!(s.image_info(&b, "dup", "1").unwrap().flags & STS_II_IMAGE_CREATED, STS_II_IMAGE_CREATED);
    // An existing target is refused; a missing source too.
    assert_eq!(status(s.copy_image(&a, ("src", "1"), &s, &b, ("dup", "1"))), STS_EEXIST);
    assert_eq!(status(s.copy_image(&a, ("nope", "1"), &s, &b, ("x", "1"))), STS_ENOIMAGE);
    // The source goes; the copies stay whole; space follows the last one.
    s.delete_image(&a, "src", "1").unwrap();
    assert_eq!(restore(&s, &b, "dup"), data);
    s.delete_image(&b, "dup", "1").unwrap();
    assert_eq!(restore(&s, &a, "dup2"), data);
    assert_eq!(fragments(&a), before);
    s.delete_image(&a, "dup2", "1").unwrap();
    let report = s.reclaim(Some(&a), Some(0), None).unwrap();
    assert_eq!(fragments(&a) + fragments(&b), 0, "{report:?}");
}

#[test]
fn extent_copies_honour_every_flag_on_both_paths() {
    let (s, lsu) = open("small", "extents");
    let src = bytes(12, 5 * FRAG + 1024);
    backup(&s, &lsu, "src", &src);
    // The same server (references), then a target server (streamed bytes).
    let other = s.open_target("VastData:big", None).unwrap();
    for (target, name) in [(&s, "refs"), (&other, "streamed")] {
        let r = reader(&s, &lsu, "src");
        let w = target.create_image(&lsu, name, "1").unwrap();
        let mut want = Vec::new();
        // Plain: 3 blocks from 1024 to 0.
        assert_eq!(r.copy_extent(&w, 1024, 0, 1536, 0).unwrap(), 1536);
        want.extend_from_slice(&src[1024..2560]);
        // Append: the first fragment and a bit, after what is there.
        assert_eq!(r.copy_extent(&w, 0, 999_999, FRAG as u64 + 512, STS_CX_APPEND).unwrap(), FRAG as u64 + 512);
        want.extend_from_slice(&src[..FRAG + 512]);
        // Remainder at an explicit offset past the end: a hole between.
        let at = want.len() + 2048;
        let from = 3 * FRAG as u64 + 512;
        assert_eq!(r.copy_extent(&w, from, at as u64, 1, STS_CX_REMAINDER).unwrap(), src.len() as u64 - from);
        want.resize(at, 0);
        want.extend_from_slice(&src[from as usize..]);
        // Append and remainder: the last 2 blocks again at the end.
        let from = src.len() as u64 - 1024;
        assert_eq!(r.copy_extent(&w, from, 0, 0, STS_CX_APPEND | STS_CX_REMAINDER).unwrap(), 1024);
        want.extend_from_slice(&src[from as usize..]);
        // Overwrite inside: 512 bytes of the start at offset 512.
        r.copy_extent(&w, 0, 512, 512, 0).unwrap();
        want[512..1024].copy_from_slice(&src[..512]);
        // Refused: unaligned, past the source, unknown flags, wrong modes.
        assert_eq!(status(r.copy_extent(&w, 100, 0, 512, 0)), STS_EINVAL);
        assert_eq!(status(r.copy_extent(&w, 0, 0, src.len() as u64 + 512, 0)), STS_EINVAL);
        assert_eq!(status(r.copy_extent(&w, src.len() as u64 + 512, 0, 0, STS_CX_REMAINDER)), STS_EINVAL);
        assert_eq!(status(r.copy_extent(&w, 0, 0, 512, 0x80)), STS_EINVAL);
        assert_eq!(status(w.copy_extent(&r, 0, 0, 512, 0)), STS_EINVAL);
        assert_eq!(status(r.copy_extent(&r, 0, 0, 512, 0)), STS_EINVAL);
        assert_eq!(w.info().unwrap().size, want.len() as u64);
        w.close(true).unwrap();
        r.close(false).unwrap();
        assert_eq!(restore(target, &lsu, name), want, "{name}");
    }
}

#[test]
fn a_synthetic_full_from_a_full_and_two_incrementals_survives_any_delete_order() {
    let (s, lsu) = open("small", "synthetic");
    let full = bytes(13, 8 * FRAG);
    let inc1 = bytes(14, 2 * FRAG);
    let inc2 = bytes(15, FRAG / 2);
    let mut want = full.clone();
    want[2 * FRAG..4 * FRAG].copy_from_slice(&inc1);
    want[5 * FRAG + 4096..5 * FRAG + 4096 + inc2.len()].copy_from_slice(&inc2);
    want.extend_from_slice(&inc2);
    for (round, order) in [["full", "inc1", "inc2", "synth"], ["synth", "inc2", "full", "inc1"]].iter().enumerate() {
        for (name, data) in [("full", &full), ("inc1", &inc1), ("inc2", &inc2)] {
            backup(&s, &lsu, name, data);
        }
        let stored = fragments(&lsu);
        {
            let (f, i1, i2) = (reader(&s, &lsu, "full"), reader(&s, &lsu, "inc1"), reader(&s, &lsu, "inc2"));
            let w = s.create_image(&lsu, "synth", "1").unwrap();
            f.include_into(&w, 0, 0, full.len() as u64).unwrap();
            i1.include_into(&w, 0, 2 * FRAG as u64, inc1.len() as u64).unwrap();
            // NetBackup's optimized synthetics move small extents.
            for k in 0..(inc2.len() / 4096) as u64 {
                i2.include_into(&w, k * 4096, 5 * FRAG as u64 + 4096 + k * 4096, 4096).unwrap();
            }
            i2.include_into(&w, 0, full.len() as u64, inc2.len() as u64).unwrap();
            assert_eq!(status(i2.include_into(&w, 0, 0, inc2.len() as u64 + 512)), STS_EINVAL);
            w.close(true).unwrap();
        }
        assert_eq!(fragments(&lsu), stored, "a virtual image stores no data");
        assert_eq!(restore(&s, &lsu, "synth"), want);
        for name in order {
            s.delete_image(&lsu, name, "1").unwrap();
            if s.image_info(&lsu, "synth", "1").is_ok() {
                assert_eq!(restore(&s, &lsu, "synth"), want, "round {round}, after deleting {name}");
            }
        }
        s.reclaim(Some(&lsu), Some(0), None).unwrap();
        assert_eq!(fragments(&lsu), 0, "round {round}: space leaked");
        assert!(s.images(&lsu).unwrap().is_empty());
    }
}

#[test]
fn including_across_servers_is_refused_and_copies_are_not() {
    let (s, lsu) = open("small", "include_far");
    backup(&s, &lsu, "src", &bytes(16, 4096));
    let other = s.open_target("VastData:big", None).unwrap();
    let r = reader(&s, &lsu, "src");
    let w = other.create_image(&lsu, "dst", "1").unwrap();
    assert_eq!(status(r.include_into(&w, 0, 0, 4096)), STS_EINVAL);
    assert_eq!(r.copy_extent(&w, 0, 0, 4096, 0).unwrap(), 4096);
    w.close(true).unwrap();
    assert_eq!(restore(&other, &lsu, "dst"), bytes(16, 4096));
}

#[test]
fn background_copies_report_progress_and_cancel_cleanly() {
    let (s, lsu) = open("small", "async_copies");
    let data = bytes(17, 64 * FRAG);
    backup(&s, &lsu, "src", &data);
    let other = s.open_target("VastData:big", None).unwrap();
    // A named copy to another server, waited for.
    s.named_async_copy("job-1", &lsu, ("src", "1"), &other, &lsu, ("dst1", "1")).unwrap();
    assert_eq!(status(s.named_async_copy("job-1", &lsu, ("src", "1"), &other, &lsu, ("x", "1"))), STS_EINVAL);
    let done = loop {
        match s.named_async_wait("job-1", 30) {
            (done, Ok(())) => break done,
            (_, Err(e)) if e.code() == Some(STS_EINPROGRESS) => continue,
            (_, Err(e)) => panic!("{e}"),
        }
    };
    assert_eq!(done, data.len() as u64);
    assert_eq!(restore(&other, &lsu, "dst1"), data);
    assert_eq!(status(s.named_async_wait("job-1", 0).1), STS_ENOCOPY);
    assert_eq!(status(s.named_async_cancel("nope")), STS_ENOCOPY);
    // Cancelled at once: either it was already done, or nothing is left.
    s.named_async_copy("job-2", &lsu, ("src", "1"), &other, &lsu, ("dst2", "1")).unwrap();
    s.named_async_cancel("job-2").unwrap();
    let (_, result) = loop {
        match s.named_async_wait("job-2", 30) {
            (_, Err(e)) if e.code() == Some(STS_EINPROGRESS) => continue,
            other => break other,
        }
    };
    match result {
        Ok(()) => assert_eq!(restore(&other, &lsu, "dst2"), data),
        Err(e) => {
            assert_eq!(e.code(), Some(STS_ECANCELED), "{e}");
            assert!(!other.images(&lsu).unwrap().iter().any(|i| i.basename == "dst2"), "no half copy is left");
        }
    }
    // Unnamed: its end is an event.
    let mut events = s.events().unwrap();
    while events.next_event().unwrap().is_some() {}
    let op = s.async_copy_image(&lsu, ("src", "1"), &s, &lsu, ("dst3", "1")).unwrap();
    assert!(op > 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let e = events.next_event().unwrap();
        if e.is_some_and(|e| e.image.basename == "dst3" && e.kind == STS_EVT_COPY_DONE) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no copy event");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(restore(&s, &lsu, "dst3"), data);
    assert_eq!(status(s.named_async_wait(&format!("#{op}"), 0).1), STS_ENOCOPY, "unnamed copies are not kept");
}

#[test]
fn events_arrive_in_order_once_per_channel_and_go_when_deleted() {
    let (s, lsu) = open("small", "events");
    let mut skip = s.events().unwrap();
    while skip.next_event().unwrap().is_some() {}
    backup(&s, &lsu, "one", &bytes(18, 1024));
    backup(&s, &lsu, "two", &bytes(19, 1024));
    s.copy_image(&lsu, ("one", "1"), &s, &lsu, ("three", "1")).unwrap();
    s.delete_image(&lsu, "two", "1").unwrap();
    let mut mine = Vec::new();
    while let Some(e) = skip.next_event().unwrap() {
        if e.image.lsu == lsu {
            mine.push(e);
        }
    }
    let seen: Vec<(u32, &str)> = mine.iter().map(|e| (e.kind, e.image.basename.as_str())).collect();
    assert_eq!(
        seen,
        [
            (STS_EVT_IMAGE_CREATED, "one"),
            (STS_EVT_IMAGE_CREATED, "two"),
            (STS_EVT_IMAGE_CREATED, "three"),
            (STS_EVT_COPY_DONE, "three"),
            (STS_EVT_IMAGE_DELETED, "two"),
        ]
    );
    assert_eq!(mine[0].image.size, 1024);
    // A second channel sees them again; deleting removes them for all.
    let mut other = s.events().unwrap();
    let mut again = 0;
    while let Some(e) = other.next_event().unwrap() {
        if e.image.lsu == lsu {
            other.delete(&e).unwrap();
            again += 1;
        }
    }
    assert_eq!(again, 5);
    let mut third = s.events().unwrap();
    while let Some(e) = third.next_event().unwrap() {
        assert_ne!(e.image.lsu, lsu, "deleted events are gone");
    }
    // Deleting an event this channel never handed out is refused.
    let bogus = vastost_loader::Event { seq: 9999, ..mine[0].clone() };
    assert_eq!(status(third.delete(&bogus)), STS_EINVAL);
}
