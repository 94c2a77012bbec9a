//! "A larger len is an error before allocating anything" (SPEC §7), checked with a
//! counting allocator. Alone in its own test binary so no other test allocates
//! concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use purr::peer::frame::{read_frame, FrameError};

/// Records the largest single allocation request.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn hostile_lengths_allocate_nothing_big() {
    // 0xffffffff: refused from the header, no payload buffer at all.
    LARGEST.store(0, Ordering::Relaxed);
    let header = [b'D', b'A', b'T', b'A', 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        read_frame(&mut &header[..]),
        Err(FrameError::TooLarge { .. })
    ));
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 1024,
        "allocated {largest} bytes for a refused frame"
    );

    // 1 MiB announced, 10 bytes sent: the buffer follows the data, not the header.
    LARGEST.store(0, Ordering::Relaxed);
    let mut announced = vec![b'D', b'A', b'T', b'A', 0x00, 0x10, 0x00, 0x00];
    announced.extend_from_slice(&[0; 10]);
    assert!(matches!(
        read_frame(&mut announced.as_slice()),
        Err(FrameError::TruncatedPayload { got: 10, .. })
    ));
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= 64 * 1024,
        "allocated {largest} bytes for 10 received"
    );
}
