//! Round trips per suite: sign/verify, tampering, encodings, addresses, ECDH,
//! SM2 encryption and key exchange.

use std::collections::HashSet;

use govchain_crypto::{Error, PrivateKey, PublicKey, Suite, ecdh, sm2};

#[test]
fn keys_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<PrivateKey>();
    assert_send_sync::<PublicKey>();
    let key = PrivateKey::generate(Suite::Gm);
    let sig = key.sign(b"threads").unwrap();
    let public = key.public_key();
    std::thread::spawn(move || public.verify(b"threads", &sig).unwrap()).join().unwrap();
}

#[test]
fn sign_verify_and_tamper_every_suite() {
    for suite in Suite::ALL {
        let key = PrivateKey::generate(suite);
        let public = key.public_key();
        assert_eq!(key.suite(), suite);
        assert_eq!(public.suite(), suite);
        for msg in [&b""[..], b"hello govchain", &[0xA5; 4096]] {
            let sig = key.sign(msg).unwrap();
            public.verify(msg, &sig).unwrap_or_else(|e| panic!("{suite}: {e}"));

            let mut other = msg.to_vec();
            other.push(0);
            assert!(matches!(public.verify(&other, &sig), Err(Error::BadSignature)), "{suite} tampered msg");

            for i in [4, sig.len() / 2, sig.len() - 1] {
                let mut bad = sig.clone();
                bad[i] ^= 0x01;
                assert!(public.verify(msg, &bad).is_err(), "{suite} flipped byte {i}");
            }
            assert!(public.verify(msg, &sig[..sig.len() - 1]).is_err(), "{suite} truncated");
            let mut longer = sig.clone();
            longer.push(0);
            assert!(public.verify(msg, &longer).is_err(), "{suite} trailing byte");
        }
        let stranger = PrivateKey::generate(suite).public_key();
        let sig = key.sign(b"x").unwrap();
        assert!(matches!(stranger.verify(b"x", &sig), Err(Error::BadSignature)));
    }
}

#[test]
fn signatures_do_not_cross_suites() {
    let gm = PrivateKey::generate(Suite::Gm);
    let k1 = PrivateKey::generate(Suite::IntlK1);
    let r1 = PrivateKey::generate(Suite::IntlR1);
    let msg = b"cross";
    assert!(k1.public_key().verify(msg, &gm.sign(msg).unwrap()).is_err());
    assert!(r1.public_key().verify(msg, &k1.sign(msg).unwrap()).is_err());
    assert!(gm.public_key().verify(msg, &r1.sign(msg).unwrap()).is_err());
}

#[test]
fn sm2_signatures_are_randomized_but_all_verify() {
    let key = PrivateKey::generate(Suite::Gm);
    let a = key.sign(b"same").unwrap();
    let b = key.sign(b"same").unwrap();
    assert_ne!(a, b, "hedged nonce must differ between calls");
    key.public_key().verify(b"same", &a).unwrap();
    key.public_key().verify(b"same", &b).unwrap();
}

#[test]
fn sm2_custom_id_signatures() {
    let key = PrivateKey::generate(Suite::Gm);
    let public = key.public_key();
    let sig = sm2::sign_with_id(&key, b"ALICE123@YAHOO.COM", b"m").unwrap();
    sm2::verify_with_id(&public, b"ALICE123@YAHOO.COM", b"m", &sig).unwrap();
    assert!(public.verify(b"m", &sig).is_err(), "default-ID verify must not accept another ID");
    let default = key.sign(b"m").unwrap();
    sm2::verify_with_id(&public, govchain_crypto::SM2_DEFAULT_ID, b"m", &default).unwrap();
    assert!(sm2::z_a(&public, &vec![b'x'; 8192]).is_err(), "ENTL overflow");
    let k1 = PrivateKey::generate(Suite::IntlK1);
    assert!(matches!(sm2::sign_with_id(&k1, b"id", b"m"), Err(Error::SuiteMismatch { .. })));
}

#[test]
fn k1_rejects_high_s() {
    // n of secp256k1.
    let n = crate::h("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");
    let key = PrivateKey::generate(Suite::IntlK1);
    let sig = key.sign(b"malleable").unwrap();
    let (r, s) = split_der(&sig);
    let high_s = sub_be(&n, &s);
    let flipped = crate::vectors::der_sig(&r, &high_s);
    assert!(matches!(key.public_key().verify(b"malleable", &flipped), Err(Error::MalformedSignature)));
}

/// Splits a DER `SEQUENCE { r, s }` into two 32-byte big-endian values.
pub fn split_der(sig: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(sig[0], 0x30);
    let mut at = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(sig[at], 0x02);
        let len = sig[at + 1] as usize;
        let v: Vec<u8> = sig[at + 2..at + 2 + len].iter().copied().skip_while(|b| *b == 0).collect();
        let mut padded = vec![0u8; 32 - v.len()];
        padded.extend(v);
        out.push(padded);
        at += 2 + len;
    }
    (out.remove(0), out.remove(0))
}

/// `a - b` for equal-length big-endian numbers with `a >= b`.
fn sub_be(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut d = a[i] as i16 - b[i] as i16 - borrow;
        borrow = if d < 0 { 1 } else { 0 };
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn pem_round_trips_every_suite() {
    for suite in Suite::ALL {
        let key = PrivateKey::generate(suite);
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let back = PrivateKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.suite(), suite);
        assert_eq!(back.public_key(), key.public_key());
        let sig = back.sign(b"pem").unwrap();
        key.public_key().verify(b"pem", &sig).unwrap();

        let spki = key.public_key().to_spki_pem().unwrap();
        assert!(spki.starts_with("-----BEGIN PUBLIC KEY-----"), "{spki}");
        let public = PublicKey::from_spki_pem(&spki).unwrap();
        assert_eq!(public, key.public_key());
        assert_eq!(public.suite(), suite);

        // Each PEM is the other's wrong kind.
        assert!(PrivateKey::from_pkcs8_pem(&spki).is_err());
        assert!(PublicKey::from_spki_pem(&pem).is_err());
    }
}

#[test]
fn sec1_round_trips_compressed_and_uncompressed() {
    for suite in Suite::ALL {
        let public = PrivateKey::generate(suite).public_key();
        let sec1 = public.to_sec1();
        assert_eq!(sec1.len(), 65);
        assert_eq!(sec1[0], 0x04);
        assert_eq!(PublicKey::from_sec1(suite, &sec1).unwrap(), public);

        let mut compressed = vec![0x02 | (sec1[64] & 1)];
        compressed.extend_from_slice(&sec1[1..33]);
        let back = PublicKey::from_sec1(suite, &compressed).unwrap();
        assert_eq!(back, public);
        assert_eq!(back.to_sec1(), sec1);

        // Wrong parity is another (valid) point, never ours.
        compressed[0] ^= 1;
        assert_ne!(PublicKey::from_sec1(suite, &compressed).unwrap(), public);
    }
}

#[test]
fn points_of_one_curve_do_not_load_on_another() {
    // A random point of one curve is almost surely off the others.
    let mut rejected = 0;
    for _ in 0..8 {
        let sec1 = PrivateKey::generate(Suite::Gm).public_key().to_sec1();
        if PublicKey::from_sec1(Suite::IntlK1, &sec1).is_err()
            && PublicKey::from_sec1(Suite::IntlR1, &sec1).is_err()
        {
            rejected += 1;
        }
    }
    assert_eq!(rejected, 8);
}

#[test]
fn addresses_are_stable_and_distinct() {
    let mut seen = HashSet::new();
    for suite in Suite::ALL {
        let key = PrivateKey::generate(suite);
        let addr = key.address();
        assert_eq!(addr, key.public_key().address());
        assert_eq!(addr, PrivateKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap().address());
        assert_eq!(addr, PublicKey::from_sec1(suite, &key.public_key().to_sec1()).unwrap().address());
        let digest = suite.hash(&key.public_key().to_sec1()[1..]);
        assert_eq!(addr.0, digest[12..]);
        assert_eq!(addr.to_string().parse::<govchain_crypto::Address>().unwrap(), addr);
        assert!(seen.insert(addr));
    }
}

#[test]
fn private_key_debug_hides_the_secret() {
    let scalar = [0x5Au8; 32];
    for suite in Suite::ALL {
        let key = PrivateKey::from_scalar_bytes(suite, &scalar).unwrap();
        let debug = format!("{key:?} {:?}", key.clone());
        assert!(!debug.to_lowercase().contains("5a5a5a5a"), "{debug}");
        assert!(debug.contains(suite.name()) || debug.contains(&format!("{suite:?}")), "{debug}");
    }
}

#[test]
fn public_keys_hash_and_compare_by_value() {
    let key = PrivateKey::generate(Suite::IntlR1).public_key();
    let same = PublicKey::from_sec1(Suite::IntlR1, &key.to_sec1()).unwrap();
    let set: HashSet<PublicKey> = [key.clone(), same.clone()].into_iter().collect();
    assert_eq!(set.len(), 1);
    assert!(format!("{key:?}").contains(&hex::encode(key.to_sec1())));
}

#[test]
fn ecdh_agrees_on_intl_suites_and_refuses_otherwise() {
    for suite in [Suite::IntlK1, Suite::IntlR1] {
        let a = PrivateKey::generate(suite);
        let b = PrivateKey::generate(suite);
        let ab = ecdh::agree(&a, &b.public_key()).unwrap();
        let ba = ecdh::agree(&b, &a.public_key()).unwrap();
        assert_eq!(ab, ba);
        let c = PrivateKey::generate(suite);
        assert_ne!(ab, ecdh::agree(&a, &c.public_key()).unwrap());
    }
    let k1 = PrivateKey::generate(Suite::IntlK1);
    let r1 = PrivateKey::generate(Suite::IntlR1);
    assert!(matches!(ecdh::agree(&k1, &r1.public_key()), Err(Error::SuiteMismatch { .. })));
    let gm = PrivateKey::generate(Suite::Gm);
    assert!(matches!(ecdh::agree(&gm, &gm.public_key()), Err(Error::Unsupported { .. })));
}

#[test]
fn sm2_encryption_round_trip_both_formats() {
    let key = PrivateKey::generate(Suite::Gm);
    for msg in [&b"x"[..], b"a longer message that spans two SM3 blocks of KDF output ....", &[7u8; 1000]] {
        let der = sm2::encrypt(&key.public_key(), msg).unwrap();
        assert_eq!(sm2::decrypt(&key, &der).unwrap(), msg);
        let raw = sm2::encrypt_as(&key.public_key(), msg, sm2::CipherFormat::C1C3C2).unwrap();
        assert_eq!(raw.len(), 65 + 32 + msg.len());
        assert_eq!(sm2::decrypt_as(&key, &raw, sm2::CipherFormat::C1C3C2).unwrap(), msg);
        assert!(sm2::decrypt(&key, &raw).is_err(), "raw is not DER");

        let other = PrivateKey::generate(Suite::Gm);
        assert!(matches!(sm2::decrypt(&other, &der), Err(Error::Decryption)));
        let mut tampered = der.clone();
        *tampered.last_mut().unwrap() ^= 0x80;
        assert!(matches!(sm2::decrypt(&key, &tampered), Err(Error::Decryption)));
    }
    assert!(sm2::encrypt(&key.public_key(), b"").is_err());
    let k1 = PrivateKey::generate(Suite::IntlK1);
    assert!(matches!(sm2::encrypt(&k1.public_key(), b"m"), Err(Error::SuiteMismatch { .. })));
}

#[test]
fn sm2_key_exchange_round_trip() {
    let a = PrivateKey::generate(Suite::Gm);
    let b = PrivateKey::generate(Suite::Gm);
    let (id_a, id_b) = (&b"alice@org1"[..], &b"bob@org2"[..]);

    let init = sm2::KeyExchange::new(sm2::Role::Initiator, &a, id_a, &b.public_key(), id_b).unwrap();
    let resp = sm2::KeyExchange::new(sm2::Role::Responder, &b, id_b, &a.public_key(), id_a).unwrap();
    let (ra, rb) = (init.ephemeral_public(), resp.ephemeral_public());

    let b_side = resp.agree(&ra, 48).unwrap();
    // The initiator gets R_B compressed: both SEC1 forms must work.
    let mut rb_compressed = vec![0x02 | (rb[64] & 1)];
    rb_compressed.extend_from_slice(&rb[1..33]);
    let a_side = init.agree(&rb_compressed, 48).unwrap();
    assert_eq!(a_side.key(), b_side.key());
    assert_eq!(a_side.key().len(), 48);
    a_side.verify_peer_confirmation(&b_side.confirmation()).unwrap();
    b_side.verify_peer_confirmation(&a_side.confirmation()).unwrap();
    assert_ne!(a_side.confirmation(), b_side.confirmation());
    assert!(a_side.verify_peer_confirmation(&a_side.confirmation()).is_err());
    assert!(a_side.verify_peer_confirmation(&[0u8; 31]).is_err());

    // A responder that believes in a different initiator ID derives another key.
    let init = sm2::KeyExchange::new(sm2::Role::Initiator, &a, id_a, &b.public_key(), id_b).unwrap();
    let resp = sm2::KeyExchange::new(sm2::Role::Responder, &b, id_b, &a.public_key(), b"mallory").unwrap();
    let (ra, rb) = (init.ephemeral_public(), resp.ephemeral_public());
    let b_side = resp.agree(&ra, 16).unwrap();
    let a_side = init.agree(&rb, 16).unwrap();
    assert_ne!(a_side.key(), b_side.key());
    assert!(a_side.verify_peer_confirmation(&b_side.confirmation()).is_err());

    // Invalid peer ephemeral points and key lengths are refused.
    let init = sm2::KeyExchange::new(sm2::Role::Initiator, &a, id_a, &b.public_key(), id_b).unwrap();
    let mut off_curve = rb;
    off_curve[64] ^= 1;
    assert!(matches!(init.agree(&off_curve, 16), Err(Error::KeyExchange(_))));
    let init = sm2::KeyExchange::new(sm2::Role::Initiator, &a, id_a, &b.public_key(), id_b).unwrap();
    assert!(init.agree(&rb, 0).is_err());
    let k1 = PrivateKey::generate(Suite::IntlK1);
    assert!(sm2::KeyExchange::new(sm2::Role::Initiator, &k1, id_a, &b.public_key(), id_b).is_err());
}

#[test]
fn hasher_matches_one_shot() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    for suite in Suite::ALL {
        let mut h = suite.hasher();
        for chunk in data.chunks(333) {
            h.update(chunk);
        }
        assert_eq!(h.finalize(), suite.hash(&data));
        assert_ne!(suite.hash(b"a"), suite.hash(b"b"));
    }
    assert_ne!(Suite::Gm.hash(b"a"), Suite::IntlK1.hash(b"a"));
    assert_ne!(Suite::IntlK1.hash(b"a"), Suite::IntlR1.hash(b"a"));
}
