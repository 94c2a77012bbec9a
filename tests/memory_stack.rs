//! `memory::release_stack_below_here` gives back the stack pages a thread's deepest call
//! touched (issue 21: a peer reader's handshake pages stayed resident for the
//! connection's life), and the thread goes on using its stack afterwards.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// Resident KiB of the mapping that holds `addr`, from /proc/self/smaps.
fn resident_kib_at(addr: usize) -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let mut inside = false;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                inside = (a..b).contains(&addr);
                continue;
            }
        }
        if let (true, Some(v)) = (inside, line.strip_prefix("Rss:")) {
            return v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
        }
    }
    0
}

/// Touches about `depth` KiB of stack below the caller and returns a value that
/// depends on all of it (so no frame is optimised away).
#[inline(never)]
fn deep(depth: usize) -> u64 {
    let mut frame = [0u8; 1024];
    frame[depth % 1024] = depth as u8;
    let below = if depth > 1 { deep(depth - 1) } else { 0 };
    std::hint::black_box(&mut frame);
    below + u64::from(frame.iter().map(|&b| u32::from(b)).sum::<u32>())
}

#[test]
fn pages_below_the_caller_are_given_back_and_the_stack_still_works() {
    let t = std::thread::Builder::new()
        .stack_size(purr::threads::THREAD_STACK)
        .spawn(|| {
            let here = 0u8;
            let addr = std::ptr::addr_of!(here) as usize;
            std::hint::black_box(deep(160));
            let touched = resident_kib_at(addr);
            let released = purr::memory::release_stack_below_here();
            let after = resident_kib_at(addr);
            // The stack is usable again, as deep as before.
            let again = deep(160);
            (touched, released, after, again)
        })
        .unwrap();
    let (touched, released, after, again) = t.join().unwrap();
    assert!(
        touched >= 160,
        "the deep call left only {touched} KiB resident"
    );
    assert!(released >= 160 * 1024, "released {released} bytes");
    assert!(
        after <= 40,
        "{after} KiB still resident after the release ({touched} before)"
    );
    assert!(again > 0);
}
