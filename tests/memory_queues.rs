//! The queues of an idle node hold no empty slots (issue 21): the state's command queue
//! holds pointers, a peer's and the store's queues allocate only while something
//! waits. Measured with glibc's own count of the heap (`memory::heap_stats`), in a test
//! binary of its own so that no other test allocates meanwhile.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use purr::memory::heap_stats;

/// The tests here measure the whole process's heap: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Bytes the heap grew by while `make` ran (what it made is kept until after).
fn heap_growth<T>(make: impl FnOnce() -> T) -> (usize, T) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = heap_stats().expect("glibc").in_use;
    let made = make();
    let after = heap_stats().expect("glibc").in_use;
    (after.saturating_sub(before), made)
}

/// 4,096 commands of ~200 bytes were 850 KiB allocated when the queue was made.
#[test]
fn the_command_queue_holds_pointers() {
    let (grew, queue) = heap_growth(purr::bus::StateHandle::channel);
    assert!(
        grew <= 100 * 1024,
        "{} KiB for an empty command queue",
        grew / 1024
    );
    drop(queue);
}

/// A peer's queue of 256 records was 35 KiB per connection, empty or not. A connection's
/// queues now (its record queue, its bulk lane of 8 boxed chunks, their doorbell) are
/// crossbeam's bookkeeping, ~1.5 KiB.
#[test]
fn an_empty_peer_queue_holds_no_slots() {
    let (grew, queues) = heap_growth(|| {
        (0..100)
            .map(|_| purr::bus::peer_queues().expect("eventfd"))
            .collect::<Vec<_>>()
    });
    assert!(
        grew <= 200 * 1024,
        "{} KiB for the queues of 100 idle connections",
        grew / 1024
    );
    // Records still go through, up to the bound.
    let (tx, _, outbox) = &queues[0];
    for _ in 0..purr::bus::PEER_QUEUE_LEN {
        tx.try_send(purr::peer::inner::Inner::Ping).unwrap();
    }
    assert!(tx.try_send(purr::peer::inner::Inner::Ping).is_err());
    assert_eq!(outbox.rx.try_iter().count(), purr::bus::PEER_QUEUE_LEN);
}

/// The store writer's queue (the same kind: one producer, the state thread): 4,096 ops
/// of 264 bytes were 1.1 MiB up front.
#[test]
fn an_empty_single_producer_queue_allocates_nothing_until_used() {
    let (grew, queues) = heap_growth(|| {
        (0..16)
            .map(|_| purr::queue::single_producer::<[u8; 264]>(4096))
            .collect::<Vec<_>>()
    });
    assert!(grew <= 64 * 1024, "{} KiB for 16 empty queues", grew / 1024);
    drop(queues);
}
