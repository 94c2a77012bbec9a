//! How purr starts its threads: one stack size for every connection thread, and names
//! that show in `top -H`, `/proc/<pid>/task/*/comm` and panic messages.
//!
//! This module sits below everything else: any module may start a thread through it
//! without importing the module that usually does (the listener, the state thread).

use std::io;
use std::thread::{Builder, JoinHandle};

/// Stack size of connection threads: they keep big buffers on the heap, and a Pi with
/// 512 connections should not reserve 1 GiB of address space for stacks.
pub const THREAD_STACK: usize = 256 * 1024;

/// Starts a thread named `name` with the connection stack size ([`THREAD_STACK`]).
pub fn spawn<T, F>(name: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .name(name.into())
        .stack_size(THREAD_STACK)
        .spawn(f)
}
