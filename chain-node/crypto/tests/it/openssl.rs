//! Interoperability with the OpenSSL 3 command line.
//!
//! These tests require the `openssl` binary (3.x, with SM2/SM3/SM4): when it
//! is missing they fail loudly instead of skipping, because interop is the
//! point of the suite. OpenSSL 3.0's SM2 default distinguishing ID is *empty*,
//! so every SM2 sign/verify below passes `distid:1234567812345678` explicitly,
//! as any peer of a govchain GM chain must.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use govchain_crypto::{PrivateKey, PublicKey, Suite, sm2, sm4};

const DISTID: &str = "distid:1234567812345678";

struct Openssl {
    dir: tempfile::TempDir,
}

impl Openssl {
    fn new() -> Self {
        let version = Command::new("openssl").arg("version").output().unwrap_or_else(|err| {
            panic!("the `openssl` CLI (OpenSSL 3 with SM2/SM3/SM4) is required for the interop tests: {err}")
        });
        let text = String::from_utf8_lossy(&version.stdout);
        assert!(text.starts_with("OpenSSL 3."), "OpenSSL 3 required, found: {text}");
        Openssl { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, data).expect("write temp file");
        path
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).expect("read temp file")
    }

    /// Runs openssl in the temp dir; returns (success, stdout+stderr).
    fn try_run(&self, args: &[&str]) -> (bool, String) {
        let out =
            Command::new("openssl").args(args).current_dir(self.dir.path()).output().expect("spawn openssl");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn run(&self, args: &[&str]) -> String {
        let (ok, text) = self.try_run(args);
        assert!(ok, "openssl {args:?} failed:\n{text}");
        text
    }

    fn genpkey(&self, suite: Suite, name: &str) -> String {
        match suite {
            Suite::Gm => self.run(&["genpkey", "-algorithm", "SM2", "-out", name]),
            Suite::IntlK1 => self.run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
                "-out",
                name,
            ]),
            Suite::IntlR1 => self.run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-out",
                name,
            ]),
        };
        String::from_utf8(self.read(name)).expect("PEM is text")
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn openssl_sm2_signature_verifies_here() {
    let ossl = Openssl::new();
    let pem = ossl.genpkey(Suite::Gm, "key.pem");
    ossl.run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let key = PrivateKey::from_pkcs8_pem(&pem).unwrap();
    let public = PublicKey::from_spki_pem(&String::from_utf8(ossl.read("pub.pem")).unwrap()).unwrap();
    assert_eq!(public, key.public_key());

    let msg = b"signed by openssl pkeyutl";
    ossl.write("msg.bin", msg);
    ossl.run(&[
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", "key.pem", "-pkeyopt", DISTID, "-in",
        "msg.bin", "-out", "sig.der",
    ]);
    let sig = ossl.read("sig.der");
    public.verify(msg, &sig).unwrap();
    assert!(public.verify(b"other", &sig).is_err());

    // `openssl dgst -sm3 -sign` with the same ID gives the same kind of signature.
    ossl.run(&["dgst", "-sm3", "-sigopt", DISTID, "-sign", "key.pem", "-out", "sig2.der", "msg.bin"]);
    public.verify(msg, &ossl.read("sig2.der")).unwrap();

    // Without the ID OpenSSL 3.0 hashes an empty ID: that must NOT verify here.
    ossl.run(&["dgst", "-sm3", "-sign", "key.pem", "-out", "sig3.der", "msg.bin"]);
    assert!(public.verify(msg, &ossl.read("sig3.der")).is_err());
    sm2::verify_with_id(&public, b"", msg, &ossl.read("sig3.der")).unwrap();
}

#[test]
fn our_sm2_signature_verifies_in_openssl() {
    let ossl = Openssl::new();
    let key = PrivateKey::generate(Suite::Gm);
    ossl.write("pub.pem", key.public_key().to_spki_pem().unwrap());
    let msg = b"signed by govchain";
    ossl.write("msg.bin", msg);
    ossl.write("sig.der", key.sign(msg).unwrap());
    let out = ossl.run(&[
        "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", "pub.pem", "-pkeyopt", DISTID,
        "-in", "msg.bin", "-sigfile", "sig.der",
    ]);
    assert!(out.contains("Signature Verified Successfully"), "{out}");
    let out = ossl.run(&[
        "dgst",
        "-sm3",
        "-sigopt",
        DISTID,
        "-verify",
        "pub.pem",
        "-signature",
        "sig.der",
        "msg.bin",
    ]);
    assert!(out.contains("Verified OK"), "{out}");

    // And OpenSSL rejects it for another message.
    ossl.write("other.bin", b"tampered");
    let (ok, out) = ossl.try_run(&[
        "dgst",
        "-sm3",
        "-sigopt",
        DISTID,
        "-verify",
        "pub.pem",
        "-signature",
        "sig.der",
        "other.bin",
    ]);
    assert!(!ok && out.contains("Verification failure"), "{out}");
}

#[test]
fn sm2_encryption_interop_both_directions() {
    let ossl = Openssl::new();
    let pem = ossl.genpkey(Suite::Gm, "key.pem");
    let key = PrivateKey::from_pkcs8_pem(&pem).unwrap();
    ossl.run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);

    // OpenSSL encrypts, we decrypt.
    let secret = b"for the consortium's eyes only";
    ossl.write("pt.bin", secret);
    ossl.run(&["pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "pt.bin", "-out", "ct.der"]);
    assert_eq!(sm2::decrypt(&key, &ossl.read("ct.der")).unwrap(), secret);

    // We encrypt (to OpenSSL's key, read from its SPKI), OpenSSL decrypts.
    let public = PublicKey::from_spki_pem(&String::from_utf8(ossl.read("pub.pem")).unwrap()).unwrap();
    let msg: Vec<u8> = (0..300u16).map(|i| (i % 251) as u8).collect();
    ossl.write("ours.der", sm2::encrypt(&public, &msg).unwrap());
    ossl.run(&["pkeyutl", "-decrypt", "-inkey", "key.pem", "-in", "ours.der", "-out", "back.bin"]);
    assert_eq!(ossl.read("back.bin"), msg);
}

#[test]
fn p256_signature_interop_both_directions() {
    let ossl = Openssl::new();
    let pem = ossl.genpkey(Suite::IntlR1, "key.pem");
    let key = PrivateKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(key.suite(), Suite::IntlR1);
    let msg = b"p-256 over sha-256";
    ossl.write("msg.bin", msg);

    // OpenSSL signs (high or low s, both are valid ECDSA); we verify. Several
    // runs so a high-s signature turns up with high probability.
    for i in 0..6 {
        let sig = format!("sig{i}.der");
        ossl.run(&["dgst", "-sha256", "-sign", "key.pem", "-out", &sig, "msg.bin"]);
        key.public_key().verify(msg, &ossl.read(&sig)).unwrap();
    }

    // We sign; OpenSSL verifies with our SPKI.
    ossl.write("pub.pem", key.public_key().to_spki_pem().unwrap());
    ossl.write("ours.der", key.sign(msg).unwrap());
    let out = ossl.run(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "ours.der", "msg.bin"]);
    assert!(out.contains("Verified OK"), "{out}");
}

#[test]
fn k1_signature_verifies_in_openssl_over_keccak_digest() {
    // OpenSSL 3.0 has no Keccak-256, so it verifies our signature over the
    // digest we hand it: this pins the DER and curve, and the digest rule.
    let ossl = Openssl::new();
    let key = PrivateKey::generate(Suite::IntlK1);
    ossl.write("pub.pem", key.public_key().to_spki_pem().unwrap());
    let msg = b"ethereum-style";
    let digest = govchain_crypto::keccak256(msg);
    ossl.write("digest.bin", digest);
    ossl.write("sig.der", key.sign(msg).unwrap());
    let out = ossl.run(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-in",
        "digest.bin",
        "-sigfile",
        "sig.der",
    ]);
    assert!(out.contains("Signature Verified Successfully"), "{out}");
    ossl.write("sha.bin", govchain_crypto::sha256(msg));
    let (ok, _) = ossl.try_run(&[
        "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-in", "sha.bin", "-sigfile", "sig.der",
    ]);
    assert!(!ok, "a k1 signature must be over Keccak-256, not SHA-256");
}

#[test]
fn our_pkcs8_loads_in_openssl_and_theirs_here() {
    let ossl = Openssl::new();
    for suite in Suite::ALL {
        let tag = suite.name();

        // Ours -> OpenSSL: it parses the key and derives the same public key.
        let ours = PrivateKey::generate(suite);
        let key_file = ossl.write(&format!("ours-{tag}.pem"), ours.to_pkcs8_pem().unwrap());
        let pub_file = ossl.path(&format!("ours-{tag}.pub.pem"));
        ossl.run(&["pkey", "-in", p(&key_file), "-pubout", "-out", p(&pub_file)]);
        let derived =
            PublicKey::from_spki_pem(&String::from_utf8(fs::read(&pub_file).unwrap()).unwrap()).unwrap();
        assert_eq!(derived, ours.public_key(), "{tag}");
        let text = ossl.run(&["pkey", "-in", p(&key_file), "-noout", "-text"]);
        let curve = match suite {
            Suite::Gm => "SM2",
            Suite::IntlK1 => "secp256k1",
            Suite::IntlR1 => "prime256v1",
        };
        assert!(text.contains(curve), "{tag}: {text}");
        // Our SPKI too.
        let spki_file = ossl.write(&format!("ours-{tag}.spki.pem"), ours.public_key().to_spki_pem().unwrap());
        ossl.run(&["pkey", "-pubin", "-in", p(&spki_file), "-noout"]);

        // OpenSSL -> ours: genpkey output of each curve, suite from the OID.
        let theirs = ossl.genpkey(suite, &format!("theirs-{tag}.pem"));
        let key = PrivateKey::from_pkcs8_pem(&theirs).unwrap();
        assert_eq!(key.suite(), suite, "{tag}");
        let theirs_pub = ossl.path(&format!("theirs-{tag}.pub.pem"));
        ossl.run(&["pkey", "-in", &format!("theirs-{tag}.pem"), "-pubout", "-out", p(&theirs_pub)]);
        let public =
            PublicKey::from_spki_pem(&String::from_utf8(fs::read(&theirs_pub).unwrap()).unwrap()).unwrap();
        assert_eq!(public, key.public_key(), "{tag}");
    }
}

#[test]
fn sm3_and_sm4_cbc_match_openssl() {
    let ossl = Openssl::new();
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 256) as u8).collect();
    ossl.write("data.bin", &data);
    let out = ossl.run(&["dgst", "-sm3", "-r", "data.bin"]);
    assert_eq!(out.split_whitespace().next().unwrap(), hex::encode(govchain_crypto::sm3(&data)));

    let key = [0x2Bu8; 16];
    let iv = [0x7Eu8; 16];
    let (k, v) = (hex::encode(key), hex::encode(iv));
    ossl.run(&["enc", "-sm4-cbc", "-K", &k, "-iv", &v, "-in", "data.bin", "-out", "theirs.bin"]);
    let ours = sm4::cbc_encrypt(&key, &iv, &data).unwrap();
    assert_eq!(ossl.read("theirs.bin"), ours);
    ossl.write("ours.bin", &ours);
    ossl.run(&["enc", "-d", "-sm4-cbc", "-K", &k, "-iv", &v, "-in", "ours.bin", "-out", "back.bin"]);
    assert_eq!(ossl.read("back.bin"), data);
}
