//! The operating system's CSPRNG, the one source of randomness for keys, tokens, IVs
//! and message ids.
//!
//! `getrandom` failing means the kernel cannot give us entropy; continuing would
//! produce predictable keys, so callers get an error and the node refuses to go on.

/// The OS random source could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RngError(String);

/// Fills `buf` with random bytes from the OS.
pub fn fill(buf: &mut [u8]) -> Result<(), RngError> {
    getrandom::fill(buf).map_err(|e| RngError(e.to_string()))
}

/// `N` random bytes from the OS.
pub fn bytes<const N: usize>() -> Result<[u8; N], RngError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}
