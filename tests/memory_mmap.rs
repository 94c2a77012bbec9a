//! `memory::fix_mmap_threshold` (src/memory/mod.rs): a block of `MMAP_THRESHOLD` (192 KiB)
//! or more gets its own mapping even after a bigger block was freed. glibc would otherwise raise its
//! threshold to the freed block's size and carve later big blocks from the arenas,
//! where they leave holes. Its own test binary: the setting is process-wide.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn big_blocks_get_their_own_mapping_after_a_bigger_one_was_freed() {
    use std::hint::black_box;
    assert!(
        purr::memory::fix_mmap_threshold(),
        "glibc refused M_MMAP_THRESHOLD"
    );
    // Freeing an mmapped 8 MiB block is what raises glibc's threshold when it is left
    // to adjust itself.
    drop(black_box(vec![1u8; 8 << 20]));
    let before = purr::memory::heap_stats().expect("glibc").mmapped;
    let block = black_box(vec![2u8; 512 * 1024]);
    let during = purr::memory::heap_stats().expect("glibc").mmapped;
    assert!(
        during >= before + block.len(),
        "a 512 KiB block came from an arena (mmapped {before} → {during} bytes)"
    );
    drop(block);
    let after = purr::memory::heap_stats().expect("glibc").mmapped;
    assert!(
        after < during,
        "freed, its mapping is gone ({during} → {after})"
    );
}
