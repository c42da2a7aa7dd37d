//! Hostile input: every decoder returns an error, none panics.

use govchain_crypto::{PrivateKey, PublicKey, Suite, sm2, sm4};

use crate::XorShift;

const ROUNDS: usize = 300;

#[test]
fn random_sec1_bytes_are_rejected() {
    let mut rng = XorShift::new(1);
    for suite in Suite::ALL {
        for _ in 0..ROUNDS {
            let len = [0, 1, 32, 33, 64, 65, 66, 97][rng.below(8)];
            let mut bytes = rng.bytes(len);
            if let Some(first) = bytes.first_mut() {
                // Mostly plausible tags, so the curve check is what rejects.
                *first = [0x02, 0x03, 0x04, 0x00, 0x06, 0xFF][rng.below(6)];
            }
            // A random x has a ~50% chance of being on the curve when compressed;
            // only uncompressed or malformed input must always fail.
            let result = PublicKey::from_sec1(suite, &bytes);
            if len != 33 || !matches!(bytes.first(), Some(0x02 | 0x03)) {
                assert!(result.is_err(), "{suite}: accepted {}", hex::encode(&bytes));
            }
        }
        assert!(PublicKey::from_sec1(suite, &[0x00]).is_err(), "identity");
        assert!(PublicKey::from_sec1(suite, &[0x04; 65]).is_err());
        let mut x_beyond_p = vec![0x04];
        x_beyond_p.extend([0xFF; 64]);
        assert!(PublicKey::from_sec1(suite, &x_beyond_p).is_err());
    }
}

#[test]
fn random_pem_is_rejected() {
    let mut rng = XorShift::new(2);
    let labels = ["PRIVATE KEY", "PUBLIC KEY", "EC PRIVATE KEY", "CERTIFICATE"];
    for _ in 0..ROUNDS {
        let body = rng.bytes_upto(200);
        let label = labels[rng.below(labels.len())];
        let pem = format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", b64(&body));
        assert!(PrivateKey::from_pkcs8_pem(&pem).is_err());
        assert!(PublicKey::from_spki_pem(&pem).is_err());
        let text = String::from_utf8_lossy(&rng.bytes(80)).into_owned();
        assert!(PrivateKey::from_pkcs8_pem(&text).is_err());
        assert!(PublicKey::from_spki_pem(&text).is_err());
        assert!(PrivateKey::from_pkcs8_der(&body).is_err());
        assert!(PublicKey::from_spki_der(&body).is_err());
    }
    assert!(PrivateKey::from_pkcs8_pem("").is_err());
}

#[test]
fn mutated_pem_never_panics_and_never_yields_another_key() {
    let mut rng = XorShift::new(3);
    for suite in Suite::ALL {
        let key = PrivateKey::generate(suite);
        let der = pem_body(&key.to_pkcs8_pem().unwrap());
        for _ in 0..ROUNDS {
            let mut m = der.clone();
            let i = rng.below(m.len());
            m[i] ^= 1 << rng.below(8);
            if let Ok(other) = PrivateKey::from_pkcs8_der(&m) {
                // Flips inside the scalar may give a valid different key; anything
                // accepted must still be internally consistent.
                let sig = other.sign(b"m").unwrap();
                other.public_key().verify(b"m", &sig).unwrap();
            }
        }
        let spki = pem_body(&key.public_key().to_spki_pem().unwrap());
        for _ in 0..ROUNDS {
            let mut m = spki.clone();
            let i = rng.below(m.len());
            m[i] ^= 1 << rng.below(8);
            if let Ok(other) = PublicKey::from_spki_der(&m) {
                assert_ne!(other, key.public_key(), "a mutation cannot keep the same key");
            }
        }
    }
}

#[test]
fn random_and_mutated_signatures_are_rejected() {
    let mut rng = XorShift::new(4);
    for suite in Suite::ALL {
        let key = PrivateKey::generate(suite);
        let public = key.public_key();
        let sig = key.sign(b"msg").unwrap();
        for _ in 0..ROUNDS {
            let random = rng.bytes_upto(100);
            assert!(public.verify(b"msg", &random).is_err());
            let mut m = sig.clone();
            let i = rng.below(m.len());
            m[i] ^= 1 << rng.below(8);
            assert!(public.verify(b"msg", &m).is_err(), "{suite}: mutated signature verified");
        }
        // Out-of-range scalars: r = 0, s = 0, r = s = 2^256 - 1 (above every n here).
        let zero = [0u8; 32];
        let ones = [0xFFu8; 32];
        let one = {
            let mut v = [0u8; 32];
            v[31] = 1;
            v
        };
        for (r, s) in [(&zero, &one), (&one, &zero), (&ones, &one), (&one, &ones)] {
            let der = crate::vectors::der_sig(r, s);
            assert!(public.verify(b"msg", &der).is_err(), "{suite}");
        }
        assert!(public.verify(b"msg", &[]).is_err());
        assert!(public.verify(b"msg", &[0x30, 0x00]).is_err());
    }
}

#[test]
fn random_ciphertexts_are_rejected() {
    let mut rng = XorShift::new(5);
    let key = PrivateKey::generate(Suite::Gm);
    for _ in 0..ROUNDS {
        let junk = rng.bytes_upto(200);
        assert!(sm2::decrypt(&key, &junk).is_err());
        assert!(sm2::decrypt_as(&key, &junk, sm2::CipherFormat::C1C3C2).is_err());
        let mut raw = vec![0x04];
        let extra = rng.below(20);
        raw.extend(rng.bytes(64 + 32 + extra));
        assert!(sm2::decrypt_as(&key, &raw, sm2::CipherFormat::C1C3C2).is_err());
        assert!(sm4::gcm_decrypt(&[0u8; 16], &[0u8; 12], b"", &junk).is_err());
        let _ = sm4::cbc_decrypt(&[0u8; 16], &[0u8; 16], &junk); // must not panic
        for suite in Suite::ALL {
            assert!(suite.open(&vec![0u8; suite.seal_key_len()], &[0u8; 12], b"", &junk).is_err());
        }
    }
    let k1 = PrivateKey::generate(Suite::IntlK1);
    assert!(sm2::decrypt(&k1, &[0x30, 0x00]).is_err());
}

#[test]
fn random_scalars_are_checked() {
    for suite in Suite::ALL {
        assert!(PrivateKey::from_scalar_bytes(suite, &[0u8; 32]).is_err(), "zero");
        assert!(PrivateKey::from_scalar_bytes(suite, &[0xFFu8; 32]).is_err(), "above n");
        assert!(PrivateKey::from_scalar_bytes(suite, &[1u8; 31]).is_err(), "short");
        assert!(PrivateKey::from_scalar_bytes(suite, &[1u8; 33]).is_err(), "long");
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    unb64(&b64)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unb64(text: &str) -> Vec<u8> {
    let vals: Vec<u32> = text
        .bytes()
        .filter(|c| *c != b'=')
        .map(|c| ALPHABET.iter().position(|a| *a == c).expect("base64") as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let mut n = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
