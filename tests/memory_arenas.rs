//! `memory::limit_arenas` caps glibc's malloc arenas (src/memory/mod.rs): threads that
//! allocate at once share two arenas instead of getting one each (up to 8 per core),
//! each stranding its own free space. Its own test binary: the cap must be set before
//! most threads exist, and it stays for the whole process.

/// Non-main malloc arenas of this process: glibc maps each one's heap at an address
/// aligned to its 64 MiB maximum, read+write, anonymous.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn arena_heaps() -> usize {
    const HEAP_MAX: u64 = 64 << 20;
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let start = f
                .first()
                .and_then(|r| r.split('-').next())
                .and_then(|s| u64::from_str_radix(s, 16).ok());
            f.len() == 5 && f[1] == "rw-p" && start.is_some_and(|s| s % HEAP_MAX == 0)
        })
        .count()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn threads_allocating_at_once_share_at_most_two_arenas() {
    assert!(purr::memory::limit_arenas(), "glibc refused M_ARENA_MAX");
    const THREADS: usize = 8;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // Allocate and free in a loop while the others do, so each would take
                // an arena of its own without the cap; hold some until all are counted.
                let mut keep = Vec::new();
                for j in 0..20_000 {
                    let v = vec![(i + j) as u8; 64 + j % 512];
                    if j % 100 == 0 {
                        keep.push(v);
                    }
                }
                barrier.wait(); // everyone has allocated
                barrier.wait(); // counted
                keep.len()
            })
        })
        .collect();
    barrier.wait();
    let heaps = arena_heaps();
    barrier.wait();
    for h in handles {
        h.join().expect("thread");
    }
    // The main arena lives in the brk heap; the cap leaves room for one more.
    assert!(
        heaps < purr::memory::MAX_ARENAS as usize,
        "{heaps} arena heaps for {THREADS} threads (cap {} arenas)",
        purr::memory::MAX_ARENAS
    );
}
