//! Suite AEAD and SM4-CBC behaviour beyond the published vectors.

use govchain_crypto::{Error, Suite, aes, sm4};

#[test]
fn seal_open_every_suite() {
    for suite in Suite::ALL {
        let key = vec![0x11u8; suite.seal_key_len()];
        let nonce = [3u8; 12];
        for pt in [&b""[..], b"privacy payload", &[9u8; 1000]] {
            let sealed = suite.seal(&key, &nonce, b"aad", pt).unwrap();
            assert_eq!(sealed.len(), pt.len() + 16);
            assert_eq!(suite.open(&key, &nonce, b"aad", &sealed).unwrap(), pt);

            assert!(matches!(suite.open(&key, &nonce, b"aaD", &sealed), Err(Error::Decryption)));
            assert!(suite.open(&key, &[4u8; 12], b"aad", &sealed).is_err());
            let mut other_key = key.clone();
            other_key[0] ^= 1;
            assert!(suite.open(&other_key, &nonce, b"aad", &sealed).is_err());
            let mut tampered = sealed.clone();
            tampered[0] ^= 1;
            assert!(suite.open(&key, &nonce, b"aad", &tampered).is_err());
            assert!(suite.open(&key, &nonce, b"aad", &sealed[..sealed.len() - 1]).is_err());
        }
        assert!(matches!(suite.seal(&[0u8; 5], &[0u8; 12], b"", b"x"), Err(Error::InvalidLength { .. })));
        assert!(suite.open(&key, &[0u8; 12], b"", &[0u8; 3]).is_err(), "shorter than a tag");
    }
    assert_eq!(Suite::Gm.seal_key_len(), sm4::KEY_LEN);
    assert_eq!(Suite::IntlR1.seal_key_len(), aes::KEY_LEN);
    // The suites really use different ciphers.
    let sm4_sealed = Suite::Gm.seal(&[1; 16], &[0; 12], b"", b"same").unwrap();
    assert!(Suite::IntlK1.seal(&[1; 16], &[0; 12], b"", b"same").is_err());
    assert_ne!(sm4_sealed, Suite::IntlK1.seal(&[1; 32], &[0; 12], b"", b"same").unwrap());
}

#[test]
fn sm4_cbc_padding_round_trip_and_rejections() {
    let key = [0x42u8; 16];
    let iv = [0x24u8; 16];
    for len in [0usize, 1, 15, 16, 17, 31, 32, 100] {
        let pt: Vec<u8> = (0..len as u8).collect();
        let ct = sm4::cbc_encrypt(&key, &iv, &pt).unwrap();
        assert_eq!(ct.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
        assert_eq!(sm4::cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
    }
    let ct = sm4::cbc_encrypt(&key, &iv, b"0123456789").unwrap();
    assert!(sm4::cbc_decrypt(&key, &iv, &ct[..15]).is_err(), "not a block multiple");
    assert!(sm4::cbc_decrypt(&key, &iv, &[]).is_err());
    // A wrong key almost surely breaks the padding; the decoder must say so, not panic.
    let wrong = sm4::cbc_decrypt(&[0u8; 16], &iv, &ct);
    assert!(wrong.is_err() || wrong.unwrap() != b"0123456789");
    assert!(sm4::cbc_encrypt(&[0u8; 15], &iv, b"x").is_err());
}
