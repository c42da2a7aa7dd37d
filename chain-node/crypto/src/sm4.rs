//! SM4 (GB/T 32907) in GCM mode (authenticated, preferred) and CBC mode with
//! PKCS#7 padding (for interop with systems that only speak CBC).

use aes_gcm::{
    AesGcm, KeyInit,
    aead::{Aead, Payload, consts::U12},
};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use sm4::Sm4;

use crate::{Error, Result};

/// SM4 key length in bytes.
pub const KEY_LEN: usize = 16;
/// SM4 block (and CBC IV) length in bytes.
pub const BLOCK_LEN: usize = 16;
/// GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// GCM tag length in bytes (appended to the ciphertext).
pub const TAG_LEN: usize = 16;

type Sm4Gcm = AesGcm<Sm4, U12>;

fn key_len_error(key: &[u8]) -> Error {
    Error::InvalidLength { what: "SM4 key", expected: KEY_LEN, got: key.len() }
}

fn gcm(key: &[u8]) -> Result<Sm4Gcm> {
    Sm4Gcm::new_from_slice(key).map_err(|_| key_len_error(key))
}

/// SM4-GCM encryption (RFC 8998), returning `ciphertext || tag`.
pub fn gcm_encrypt(key: &[u8], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    gcm(key)?
        .encrypt(nonce.into(), Payload { msg: plaintext, aad })
        .map_err(|_| Error::Encryption("SM4-GCM plaintext too long"))
}

/// SM4-GCM decryption and authentication of `ciphertext || tag`.
pub fn gcm_decrypt(key: &[u8], nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    gcm(key)?.decrypt(nonce.into(), Payload { msg: sealed, aad }).map_err(|_| Error::Decryption)
}

/// SM4-CBC encryption with PKCS#7 padding (`openssl enc -sm4-cbc` compatible).
///
/// CBC is not authenticated: pair it with a MAC or signature, or use [`gcm_encrypt`].
pub fn cbc_encrypt(key: &[u8], iv: &[u8; BLOCK_LEN], plaintext: &[u8]) -> Result<Vec<u8>> {
    let enc = cbc::Encryptor::<Sm4>::new_from_slices(key, iv).map_err(|_| key_len_error(key))?;
    Ok(enc.encrypt_padded_vec::<Pkcs7>(plaintext))
}

/// SM4-CBC decryption, removing PKCS#7 padding; bad length or padding is an error.
pub fn cbc_decrypt(key: &[u8], iv: &[u8; BLOCK_LEN], ciphertext: &[u8]) -> Result<Vec<u8>> {
    let dec = cbc::Decryptor::<Sm4>::new_from_slices(key, iv).map_err(|_| key_len_error(key))?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK_LEN) {
        return Err(Error::Decryption);
    }
    dec.decrypt_padded_vec::<Pkcs7>(ciphertext).map_err(|_| Error::Decryption)
}
