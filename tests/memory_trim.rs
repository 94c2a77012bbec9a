//! `memory::trim` gives freed heap pages back: the fix for a long-lived node's RSS
//! creeping up under glibc (src/memory/mod.rs). Its own test binary, so no other test's
//! allocations move the process's RSS while it measures.

/// The tests here measure the whole process's heap: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Resident set size of this process, in KiB (/proc/self/statm counts pages).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_small_allocations_leave_rss_after_a_trim() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 40_000;
    const SIZE: usize = 1024; // well under glibc's mmap threshold: arena memory
                              // Another thread allocates, as a connection thread does: the chunks land in its
                              // own arena. One live chunk at the top pins the rest, so free() alone cannot
                              // shrink the arena; only malloc_trim's walk releases the free pages below it.
    let (held, before_free, after_free) = std::thread::spawn(|| {
        let mut chunks: Vec<Box<[u8]>> = (0..N).map(|i| vec![i as u8; SIZE].into()).collect();
        let held = chunks.pop();
        let before_free = rss_kib();
        drop(chunks);
        (held, before_free, rss_kib())
    })
    .join()
    .expect("allocating thread");
    let freed_kib = (N * SIZE / 1024) as u64;
    assert!(
        after_free + freed_kib / 2 > before_free,
        "free() alone already returned the memory ({before_free} → {after_free} KiB): \
         this test no longer shows what trim does"
    );
    purr::memory::trim();
    let after_trim = rss_kib();
    assert!(
        after_trim + freed_kib / 2 < after_free,
        "trim returned less than half of {freed_kib} KiB freed: {after_free} → {after_trim} KiB"
    );
    drop(held);
}

/// `heap_stats` counts what the program holds: it rises by what a thread keeps and
/// falls back when that is freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn heap_stats_follow_what_is_held() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = purr::memory::heap_stats().expect("glibc").in_use;
    let held: Vec<Box<[u8]>> = (0..1000).map(|_| vec![1u8; 1000].into()).collect();
    let during = purr::memory::heap_stats().expect("glibc").in_use;
    assert!(
        during >= before + 1000 * 1000,
        "{before} → {during} bytes in use while holding 1 MB"
    );
    drop(held);
    let after = purr::memory::heap_stats().expect("glibc").in_use;
    assert!(
        after + 900 * 1000 < during,
        "{during} → {after} bytes after freeing it"
    );
}
