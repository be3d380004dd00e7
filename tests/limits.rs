//! `set_max_alloc` against an input that makes FFmpeg allocate gigabytes. In a test binary
//! of its own: the cap is process-wide.

mod common;

use common::{fixture_bytes, quiet};

/// Peak resident memory of this process so far, in MiB.
fn peak_rss_mib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    usage.ru_maxrss / 1024 // kilobytes on Linux
}

#[test]
fn capped_allocations_keep_a_hostile_header_from_taking_gigabytes() {
    quiet();
    // Found by the fuzzer: 1.5 KB whose trun box claims 0x05000000 samples. Uncapped,
    // FFmpeg 5.1 allocates about 2.7 GB for it (measured by the fuzzer's harness).
    let data = fixture_bytes("fuzz_huge_trun.mp4");
    assert!(data.len() < 4096);
    // SAFETY: the only test of this binary; no other thread runs FFmpeg.
    unsafe { ffio::set_max_alloc(256 << 20) };
    let before = peak_rss_mib();
    let result = common::demux_all(ffio::Demuxer::from_slice(&data));
    let after = peak_rss_mib();
    // Whatever FFmpeg makes of it, it must not have grown by more than the cap allows
    // (a few capped tables at most).
    assert!(
        after - before < 1024,
        "peak RSS grew from {before} MiB to {after} MiB ({result:?})"
    );
    // And the input is still reported, not silently read as nothing.
    if let Ok(run) = &result {
        assert!(
            run.packets.len() < 1000,
            "{} packets from 1.5 KB",
            run.packets.len()
        );
    }
}
