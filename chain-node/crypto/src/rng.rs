//! OS randomness, the only randomness source of the crate.

use crate::{Error, Result};

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|err| {
        tracing::error!(target: "govchain::crypto", %err, "OS random number generator failed");
        Error::Rng
    })
}

/// 32 fresh random bytes.
pub(crate) fn bytes32() -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    fill(&mut out)?;
    Ok(out)
}

/// The OS CSPRNG as a `rand_core` 0.10 generator, for RustCrypto APIs that take one.
pub(crate) use getrandom::SysRng;
