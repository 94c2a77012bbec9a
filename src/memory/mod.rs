//! Giving memory the node no longer uses back to the operating system.
//!
//! glibc's malloc keeps what a thread frees in that thread's arena (up to 8 per core)
//! and returns memory to the kernel only from the top of an arena. A node runs a thread
//! per connection, and each thread allocates message buffers that other threads free,
//! so over hours the arenas fill with free chunks pinned behind live ones: `make soak`
//! saw a long-lived node's RSS climb ~0.5 MiB a minute (33 → 46 MB in 30 min, 38 MB of
//! it in 15 arenas) with nothing leaking. `malloc_trim(0)` walks every arena and hands
//! back each whole free page (`madvise(MADV_DONTNEED)`), which keeps RSS at what is in
//! use. The walk locks one arena at a time, costs about a millisecond on a busy node,
//! and runs every [`TRIM_INTERVAL`] from the state thread's tick ([`Trimmer`]).
//!
//! Trimming returns whole free pages only; what stays is pages a few live chunks pin,
//! and each arena strands its own. So a node also runs with at most [`MAX_ARENAS`]
//! arenas ([`limit_arenas`], before its first thread): free space left by one thread is
//! then reused by the others instead of sitting in an arena of its own. The state,
//! store and connection threads mostly wait on channels and sockets, so they rarely
//! contend for an arena's lock. And blocks of [`MMAP_THRESHOLD`] or more always get
//! their own mapping ([`fix_mmap_threshold`]), so a big buffer freed leaves no hole.
//!
//! Two more kinds of memory go back the same way, with `madvise(MADV_DONTNEED)`: the
//! stack pages below where an idle peer connection waits ([`release_stack_below_here`]), and the pages of the binary and the C libraries that
//! only the start ran ([`pages`], once the node listens).
//!
//! These calls (and `mallinfo2` for [`heap_stats`], `sqlite3_memory_used` for
//! [`sqlite_in_use`], `madvise` and `pthread_getattr_np` for the pages) are the crate's
//! only `unsafe` code (`lib.rs` denies it elsewhere).
//! Other allocators were measured and refused: mimalloc and jemalloc each raised an
//! idle node above the 8 MB budget (12.3 and 8.4 MB) and jemalloc a node with 100 peers
//! to 41 MB against 32 (docs/BENCHMARKS.md).

mod pages;

pub use pages::{drop_startup_pages, StartMappings};

use std::time::{Duration, Instant};

/// How often [`Trimmer::tick`] trims.
/// Every 10 s: a node's RSS then shows what it uses, not what its last burst freed, and
/// the walk (about a millisecond) costs ~0.01 % of one core.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Most malloc arenas a node uses (glibc's default is 8 per core).
pub const MAX_ARENAS: i32 = 2;

/// Allocations this big or bigger get their own `mmap` and go back to the kernel the
/// moment they are freed. Above a file chunk's buffers (128 KiB of data, a few dozen
/// bytes more sealed): a transfer allocates and frees several per chunk, thousands a
/// second, and at glibc's 128 KiB each was a fresh mapping, faulted in page by page
/// and unmapped again. The files bench (benches/files.rs) measured 1 GiB in 5.2 s at
/// 128 KiB; the figure at this value is in docs/BENCHMARKS.md.
pub const MMAP_THRESHOLD: i32 = 192 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] (its starting value). Left alone,
/// glibc raises the threshold to the size of each mmapped block freed (up to 32 MiB),
/// so after one big table or batch buffer was freed, later ones of that size are carved
/// from the arenas: `make soak` saw a flooded node's brk heap swing between 4 and 17 MB
/// and its arenas keep the holes. Blocks this big are rare (hundreds a minute on a flooded
/// node), so their `mmap`/`munmap` costs nothing measurable. `false` if glibc refused
/// (or is not the C library).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn fix_mmap_threshold() -> bool {
    // SAFETY: as for M_ARENA_MAX: two integers, a documented parameter, the allocator's
    // own lock.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 }
}

/// See the glibc version above.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fix_mmap_threshold() -> bool {
    false
}

/// Caps glibc's malloc arenas at [`MAX_ARENAS`]. Call before the process starts
/// threads: arenas already made are kept. `false` if glibc refused (or has no such
/// setting: not glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() -> bool {
    // SAFETY: mallopt takes two integers and only sets a malloc tunable; M_ARENA_MAX is
    // a documented parameter, and the allocator takes its own lock to change it.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, MAX_ARENAS) == 1 }
}

/// See the glibc version above.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() -> bool {
    false
}

/// `madvise(MADV_DONTNEED)` on `len` bytes at `start`: the process no longer needs
/// these pages resident. Only for [`pages::drop_startup_pages`], on read-only file
/// mappings without anonymous pages (see there). `false` if the kernel refused.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn dont_need(start: usize, len: usize) -> bool {
    // SAFETY: the range is a whole mapping of the executable or a library the loader
    // mapped before any thread started (never unmapped, so the addresses still name it),
    // read-only and private, with no anonymous (written) page: every page is a clean
    // copy of the file, and the next access maps the same bytes again from the page
    // cache. No Rust reference is invalidated: the contents do not change.
    unsafe {
        if std::env::var_os("PURR_RANDOM").is_some() {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_RANDOM);
        }
        libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0
    }
}

/// See the Linux version above.
#[cfg(not(target_os = "linux"))]
fn dont_need(_start: usize, _len: usize) -> bool {
    false
}

/// Bytes kept resident below the caller's frame by [`release_stack_below_here`]: room
/// for the frames of this function and the `madvise` call itself, which must not lose
/// their pages while they run.
const STACK_MARGIN: usize = 2 * 1024;

/// Gives back the pages of this thread's stack below the caller's frame (less
/// [`STACK_MARGIN`]): a peer connection's thread seals, opens, parses and logs a few
/// frames deeper than where it waits, and an idle connection (a `PING` every 15 s)
/// should not keep those pages resident between wake-ups; a thread may also start on a
/// stack glibc kept from an ended thread, with that thread's deep pages. Returns the
/// bytes released from (not all of them were resident); 0 where unsupported.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
#[inline(never)]
pub fn release_stack_below_here() -> usize {
    let marker = 0u8;
    let here = std::ptr::addr_of!(marker) as usize;
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let (mut base, mut size) = (std::ptr::null_mut::<libc::c_void>(), 0usize);
    // SAFETY: pthread_getattr_np fills the attribute object for the calling thread
    // (initialising it); pthread_attr_getstack only reads it, and it is destroyed once,
    // only when the first call succeeded.
    let ok = unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return 0;
        }
        let got = libc::pthread_attr_getstack(attr.as_ptr(), &mut base, &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        got
    };
    let page = 4096;
    let low = (base as usize).div_ceil(page) * page;
    let high = here.saturating_sub(STACK_MARGIN) / page * page;
    if !ok || high <= low || here >= base as usize + size {
        return 0;
    }
    // SAFETY: [low, high) is inside this thread's own stack and below every live frame
    // of it (the stack grows down from `here`, and STACK_MARGIN leaves this function's
    // callees their pages): no live value is stored there, no other thread uses this
    // stack, and a signal handler runs only after the system call returns. The pages
    // read as zero when touched again, as fresh stack does.
    let done = unsafe { libc::madvise(low as *mut libc::c_void, high - low, libc::MADV_DONTNEED) };
    if done == 0 {
        high - low
    } else {
        0
    }
}

/// See the glibc version above.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_stack_below_here() -> usize {
    0
}

/// Returns freed heap pages to the kernel. `true` if glibc released any memory; always
/// `false` where the C library has no `malloc_trim` (it is a glibc extension; musl
/// returns free memory by itself).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() -> bool {
    // SAFETY: malloc_trim takes a plain integer, touches only the allocator's own
    // state under its arena locks, and may be called from any thread at any time.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// See the glibc version above.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

/// What the allocator holds, by its own count (`mallinfo2`, summed over all arenas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes handed out to the program and not freed (arena chunks and mmap'd ones).
    pub in_use: usize,
    /// Bytes free inside the arenas (returned to the kernel by [`trim`] only as whole
    /// pages).
    pub free: usize,
    /// The part of `in_use` in blocks with their own `mmap` (see [`fix_mmap_threshold`]).
    pub mmapped: usize,
}

/// The allocator's account of the heap: in a long run, `in_use` growing means memory
/// kept by the program, RSS growing with it flat means fragmentation. `None` where the
/// C library has no `mallinfo2` (not glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn heap_stats() -> Option<HeapStats> {
    // SAFETY: mallinfo2 takes no arguments, reads the allocator's counters under its
    // own arena locks and returns a plain struct by value.
    let m = unsafe { libc::mallinfo2() };
    Some(HeapStats {
        in_use: m.uordblks + m.hblkhd,
        free: m.fordblks,
        mmapped: m.hblkhd,
    })
}

/// See the glibc version above.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_stats() -> Option<HeapStats> {
    None
}

/// Bytes SQLite has allocated and not freed, over every connection (its page caches,
/// prepared statements, lookaside): the part of the heap's `in_use` that is the store's.
#[allow(unsafe_code)]
pub fn sqlite_in_use() -> usize {
    // SAFETY: sqlite3_memory_used takes no arguments and reads a global counter under
    // SQLite's own memory-status mutex; it may be called from any thread.
    let n = unsafe { rusqlite::ffi::sqlite3_memory_used() };
    usize::try_from(n).unwrap_or(0)
}

/// Calls [`trim`] at most once per [`TRIM_INTERVAL`], and unmaps the pages of the
/// program's code ([`drop_startup_pages`]) with it.
#[derive(Debug)]
pub struct Trimmer {
    last: Instant,
    code: StartMappings,
}

impl Trimmer {
    /// Starts the clock: the first trim is one interval after `now`. `code`: the
    /// mappings whose pages each trim unmaps (empty: none).
    pub fn new(now: Instant, code: StartMappings) -> Trimmer {
        Trimmer { last: now, code }
    }

    /// Trims if the interval has passed since the last trim; says whether it did.
    pub fn tick(&mut self, now: Instant) -> bool {
        if now.duration_since(self.last) < TRIM_INTERVAL {
            return false;
        }
        self.last = now;
        let started = Instant::now();
        let released = trim();
        let code = drop_startup_pages(&self.code);
        let took = started.elapsed();
        let heap = heap_stats().map_or(String::new(), |h| {
            format!(
                "; heap in use {} KiB (SQLite {} KiB), free {} KiB",
                h.in_use / 1024,
                sqlite_in_use() / 1024,
                h.free / 1024
            )
        });
        let what = if released {
            "memory returned"
        } else {
            "nothing to return"
        };
        log::debug!("malloc_trim: {what}, {code} KiB of code pages unmapped, in {took:?}{heap}");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_per_interval() {
        let t0 = Instant::now();
        let mut t = Trimmer::new(t0, StartMappings::default());
        assert!(!t.tick(t0 + Duration::from_secs(1)));
        assert!(t.tick(t0 + TRIM_INTERVAL));
        assert!(!t.tick(t0 + TRIM_INTERVAL + TRIM_INTERVAL / 2));
        assert!(t.tick(t0 + TRIM_INTERVAL * 2));
    }

    /// SQLite counts its own allocations (the build keeps SQLITE_DEFAULT_MEMSTATUS on):
    /// an in-memory database of 2 MiB shows up. Other tests' connections only add.
    #[test]
    fn sqlite_in_use_counts_what_sqlite_holds() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE t (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 512)
             INSERT INTO t SELECT zeroblob(4096) FROM n;",
        )
        .unwrap();
        let held = sqlite_in_use();
        assert!(held >= 2 << 20, "SQLite says it holds {held} bytes");
    }
}
