//! AES-256-GCM, the symmetric cipher of the international suites.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};

use crate::{Error, Result};

/// AES-256 key length in bytes.
pub const KEY_LEN: usize = 32;
/// GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// GCM tag length in bytes (appended to the ciphertext).
pub const TAG_LEN: usize = 16;

fn cipher(key: &[u8]) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key).map_err(|_| Error::InvalidLength {
        what: "AES-256 key",
        expected: KEY_LEN,
        got: key.len(),
    })
}

/// Encrypts `plaintext`, returning `ciphertext || tag`.
pub fn gcm_encrypt(key: &[u8], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    cipher(key)?
        .encrypt(nonce.into(), Payload { msg: plaintext, aad })
        .map_err(|_| Error::Encryption("AES-GCM plaintext too long"))
}

/// Decrypts and authenticates `ciphertext || tag`.
pub fn gcm_decrypt(key: &[u8], nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    cipher(key)?.decrypt(nonce.into(), Payload { msg: sealed, aad }).map_err(|_| Error::Decryption)
}
