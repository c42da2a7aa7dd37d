//! Published test vectors, each with its source.

use govchain_crypto::{PrivateKey, PublicKey, Suite, aes, sm2, sm4};

use crate::h;

// --- SM3 (GB/T 32905-2016 Appendix A; also draft-shen-sm3-hash-01, as in
// nettle's testsuite/sm3-test.c and RustCrypto hashes sm3/tests) -------------

#[test]
fn sm3_gbt32905_examples() {
    assert_eq!(
        govchain_crypto::sm3(b"abc").to_vec(),
        h("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    );
    let abcd16 = b"abcd".repeat(16);
    assert_eq!(abcd16.len(), 64);
    assert_eq!(
        govchain_crypto::sm3(&abcd16).to_vec(),
        h("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")
    );
    assert_eq!(Suite::Gm.hash(b"abc"), govchain_crypto::sm3(b"abc"));
}

// --- Keccak-256 / SHA-256 ----------------------------------------------------

#[test]
fn keccak256_empty_and_sha256_abc() {
    // Keccak-256("") — the Ethereum empty-code hash (yellow paper / go-ethereum `types.EmptyCodeHash`).
    assert_eq!(
        govchain_crypto::keccak256(b"").to_vec(),
        h("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    );
    // SHA-256("abc") — FIPS 180-2 Appendix B.1.
    assert_eq!(
        govchain_crypto::sha256(b"abc").to_vec(),
        h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(Suite::IntlK1.hash(b""), govchain_crypto::keccak256(b""));
    assert_eq!(Suite::IntlR1.hash(b"abc"), govchain_crypto::sha256(b"abc"));
}

// --- SM4 (GB/T 32907-2016 Appendix A; RustCrypto block-ciphers sm4/tests) ----

const SM4_KEY: &str = "0123456789abcdeffedcba9876543210";

/// One SM4 block encryption through the public CBC API: with a zero IV the
/// first ciphertext block is exactly `E_K(block)`.
fn sm4_block(key: &[u8], block: &[u8]) -> Vec<u8> {
    sm4::cbc_encrypt(key, &[0u8; 16], block).unwrap()[..16].to_vec()
}

#[test]
fn sm4_gbt32907_single_block() {
    let key = h(SM4_KEY);
    assert_eq!(sm4_block(&key, &key), h("681edf34d206965e86b3e94f536e4246"));
}

#[test]
fn sm4_gbt32907_one_million_rounds() {
    let key = h(SM4_KEY);
    let mut block = key.clone();
    for _ in 0..1_000_000 {
        block = sm4_block(&key, &block);
    }
    assert_eq!(block, h("595298c7c6fd271f0402f804c33d3f66"));
}

#[test]
fn sm4_cbc_draft_ribose_a221() {
    // draft-ribose-cfrg-sm4-10 A.2.2.1 (two full blocks; our PKCS#7 adds a third).
    let ct = sm4::cbc_encrypt(
        &h(SM4_KEY),
        &h("000102030405060708090a0b0c0d0e0f").try_into().unwrap(),
        &h("aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffffaaaaaaaabbbbbbbb"),
    )
    .unwrap();
    assert_eq!(ct.len(), 48);
    assert_eq!(ct[..32].to_vec(), h("78ebb11cc40b0a48312aaeb2040244cb4cb7016951909226979b0d15dc6a8f6d"));
}

#[test]
fn sm4_gcm_rfc8998_a1() {
    // RFC 8998 Appendix A.1, as in GmSSL tests/sm4test.c (test_sm4_gcm).
    let key = h(SM4_KEY);
    let nonce: [u8; 12] = h("00001234567800000000ABCD").try_into().unwrap();
    let aad = h("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
    let pt = h("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
                EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA");
    let mut expected = h("17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
                          D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D");
    expected.extend(h("83DE3541E4C2B58177E065A9BF7B62EC"));
    let sealed = sm4::gcm_encrypt(&key, &nonce, &aad, &pt).unwrap();
    assert_eq!(sealed, expected);
    assert_eq!(sm4::gcm_decrypt(&key, &nonce, &aad, &sealed).unwrap(), pt);
    assert_eq!(Suite::Gm.seal(&key, &nonce, &aad, &pt).unwrap(), expected);
}

#[test]
fn aes256_gcm_spec_test_case_16() {
    // McGrew & Viega, "The Galois/Counter Mode of Operation", Appendix B, Test Case 16.
    let key = h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    let nonce: [u8; 12] = h("cafebabefacedbaddecaf888").try_into().unwrap();
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let mut expected = h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                          8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
    expected.extend(h("76fc6ece0f4e1768cddf8853bb2d551b"));
    assert_eq!(aes::gcm_encrypt(&key, &nonce, &aad, &pt).unwrap(), expected);
    assert_eq!(aes::gcm_decrypt(&key, &nonce, &aad, &expected).unwrap(), pt);
    assert_eq!(Suite::IntlK1.open(&key, &nonce, &aad, &expected).unwrap(), pt);
}

// --- SM2 (GM/T 0003.5-2012 = GB/T 32918.5 Annexes A and C, recommended curve,
// default ID 1234567812345678; as in openssl/openssl test/sm2_internal_test.c) --

const SM2_D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
const SM2_PUB: &str = "04 09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020 \
                       CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
const SM2_R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
const SM2_S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";

/// DER `SEQUENCE { r, s }` of two 32-byte big-endian scalars.
pub fn der_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn int(v: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn sm2_published_key_pair() {
    let key = PrivateKey::from_scalar_bytes(Suite::Gm, &h(SM2_D)).unwrap();
    assert_eq!(key.public_key().to_sec1(), h(SM2_PUB));
}

#[test]
fn sm2_published_signature_verifies() {
    let public = PublicKey::from_sec1(Suite::Gm, &h(SM2_PUB)).unwrap();
    let sig = der_sig(&h(SM2_R), &h(SM2_S));
    public.verify(b"message digest", &sig).unwrap();
    sm2::verify_with_id(&public, b"1234567812345678", b"message digest", &sig).unwrap();
    assert!(public.verify(b"message digesT", &sig).is_err());
    assert!(sm2::verify_with_id(&public, b"ALICE123@YAHOO.COM", b"message digest", &sig).is_err());
    let mut s = h(SM2_S);
    s[31] ^= 1;
    assert!(public.verify(b"message digest", &der_sig(&h(SM2_R), &s)).is_err());
}

#[test]
fn sm2_published_ciphertext_decrypts() {
    let key = PrivateKey::from_scalar_bytes(Suite::Gm, &h(SM2_D)).unwrap();
    let x1 = "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73";
    let y1 = "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0";
    let c3 = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766";
    let c2 = "21886CA989CA9C7D58087307CA93092D651EFA";
    let der = h(&format!("307C0220{x1}022100{y1}0420{c3}0413{c2}"));
    assert_eq!(sm2::decrypt(&key, &der).unwrap(), b"encryption standard");
    let raw = h(&format!("04{x1}{y1}{c3}{c2}"));
    assert_eq!(sm2::decrypt_as(&key, &raw, sm2::CipherFormat::C1C3C2).unwrap(), b"encryption standard");
    let mut tampered = raw.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(sm2::decrypt_as(&key, &tampered, sm2::CipherFormat::C1C3C2).is_err());
}

#[test]
fn sm2_published_key_exchange_public_keys() {
    // GB/T 32918.5 key exchange example keys (the fixed-ephemeral run that
    // reproduces K = 6C89347354DE2484C60B4AB1FDE4C6E5 and S_A/S_B is the unit
    // test in src/sm2/exchange.rs, which can reach the test-only constructor).
    let a = PrivateKey::from_scalar_bytes(
        Suite::Gm,
        &h("81EB26E941BB5AF16DF116495F90695272AE2CD63D6C4AE1678418BE48230029"),
    )
    .unwrap();
    assert_eq!(
        a.public_key().to_sec1(),
        h("04160E12897DF4EDB61DD812FEB96748FBD3CCF4FFE26AA6F6DB9540AF49C94232\
           4A7DAD08BB9A459531694BEB20AA489D6649975E1BFCF8C4741B78B4B223007F")
    );
}

#[test]
fn ethereum_address_of_private_key_one() {
    // Well-known: the secp256k1 key 0x…01 controls 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf.
    let mut one = [0u8; 32];
    one[31] = 1;
    let key = PrivateKey::from_scalar_bytes(Suite::IntlK1, &one).unwrap();
    assert_eq!(key.address().to_string(), "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf");
}
