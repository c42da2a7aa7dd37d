//! Throughput of the three suites, with the alternatives the implementation
//! choice was made against measured in the same run:
//!
//! - SM2 verify: ours (`efficient-sm2` on a cached Z_A) vs `efficient-sm2`
//!   computing Z_A per call vs RustCrypto `sm2` (which also caches Z_A);
//! - SM2 sign: ours (RustCrypto constant-time arithmetic) vs `efficient-sm2`
//!   (variable-time) vs RustCrypto `SigningKey`;
//! - P-256: ours (`ring`) vs RustCrypto `p256`.
//!
//! `cargo bench -p govchain-crypto` prints criterion's report and then a
//! summary of operations per second and the ratios that justify each choice.

// A benchmark that hits an error has nothing to measure: panicking is the right report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, process::Command, time::Duration};

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use govchain_crypto::{PrivateKey, PublicKey, SM2_DEFAULT_ID, Suite};

/// A transaction-sized message.
const MSG: &[u8] = &[0x5A; 128];

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

fn ops_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group
}

/// `efficient-sm2`'s RNG hook, fed from the OS.
struct OsRand;

impl efficient_sm2::SecureRandom for OsRand {
    fn fill(&mut self, dest: &mut [u8]) {
        getrandom::fill(dest).expect("OS RNG");
    }
}

fn sign(c: &mut Criterion) {
    let keys: Vec<PrivateKey> = Suite::ALL.iter().map(|s| PrivateKey::generate(*s)).collect();
    let mut group = ops_group(c, "sign");
    for key in &keys {
        group.bench_function(format!("{}-ours", key.suite()), |b| b.iter(|| key.sign(MSG).unwrap()));
    }

    // Alternatives for SM2 on the same key.
    let gm = &keys[0];
    let scalar = scalar_of(gm);
    let fast = efficient_sm2::KeyPair::new(&scalar).unwrap();
    let e = govchain_crypto::sm3(
        &[&govchain_crypto::sm2::z_a(&gm.public_key(), SM2_DEFAULT_ID).unwrap()[..], MSG].concat(),
    );
    group.bench_function("gm-efficient-sm2", |b| b.iter(|| fast.sign_digest(&mut OsRand, &e).unwrap()));
    let rc = sm2::dsa::SigningKey::from_slice("1234567812345678", &scalar).unwrap();
    group.bench_function("gm-rustcrypto", |b| {
        b.iter(|| -> sm2::dsa::Signature { sm2::dsa::signature::Signer::sign(&rc, MSG) })
    });

    // RustCrypto P-256 for comparison with ring.
    let r1 = p256::ecdsa::SigningKey::from_slice(&scalar_of(&keys[2])).unwrap();
    group.bench_function("intl-r1-rustcrypto-p256", |b| {
        b.iter(|| -> p256::ecdsa::Signature { p256::ecdsa::signature::Signer::sign(&r1, MSG) })
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let keys: Vec<PrivateKey> = Suite::ALL.iter().map(|s| PrivateKey::generate(*s)).collect();
    let sigs: Vec<Vec<u8>> = keys.iter().map(|k| k.sign(MSG).unwrap()).collect();
    let mut group = ops_group(c, "verify");
    for (key, sig) in keys.iter().zip(&sigs) {
        let public = key.public_key();
        group
            .bench_function(format!("{}-ours", key.suite()), |b| b.iter(|| public.verify(MSG, sig).unwrap()));
    }

    // SM2 alternatives over the same key and signature.
    let gm_pub = keys[0].public_key();
    let (r, s) = split_der(&sigs[0]);
    let fast_pk = efficient_sm2::PublicKey::from_slice(&gm_pub.to_sec1()[1..]);
    let fast_sig = efficient_sm2::Signature::new(&r, &s).unwrap();
    group.bench_function("gm-efficient-sm2-uncached-za", |b| {
        b.iter(|| fast_sig.verify(&fast_pk, MSG).unwrap())
    });
    let rc_vk = sm2::dsa::VerifyingKey::from_sec1_bytes("1234567812345678", &gm_pub.to_sec1()).unwrap();
    let rc_sig = sm2::dsa::Signature::from_der(&sigs[0]).unwrap();
    group.bench_function("gm-rustcrypto", |b| {
        b.iter(|| sm2::dsa::signature::Verifier::verify(&rc_vk, MSG, &rc_sig).unwrap())
    });

    let r1_vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&keys[2].public_key().to_sec1()).unwrap();
    let r1_sig = p256::ecdsa::Signature::from_der(&sigs[2]).unwrap();
    group.bench_function("intl-r1-rustcrypto-p256", |b| {
        b.iter(|| p256::ecdsa::signature::Verifier::verify(&r1_vk, MSG, &r1_sig).unwrap())
    });
    group.finish();

    // A node that sees a key for the first time parses it (and, for SM2, computes Z_A) before verifying.
    let mut group = ops_group(c, "verify-from-sec1");
    for (key, sig) in keys.iter().zip(&sigs) {
        let sec1 = key.public_key().to_sec1();
        let suite = key.suite();
        group.bench_function(format!("{suite}-ours"), |b| {
            b.iter(|| PublicKey::from_sec1(suite, &sec1).unwrap().verify(MSG, sig).unwrap())
        });
    }
    group.finish();
}

fn hash(c: &mut Criterion) {
    for (label, len) in [("hash-1KiB", 1024usize), ("hash-64KiB", 64 * 1024)] {
        let data = vec![0xA5u8; len];
        let mut group = c.benchmark_group(label);
        group.throughput(Throughput::Bytes(len as u64));
        for suite in Suite::ALL {
            group.bench_function(suite.name(), |b| b.iter(|| suite.hash(&data)));
        }
        group.finish();
    }
}

fn aead(c: &mut Criterion) {
    let data = vec![0x3Cu8; 16 * 1024];
    let mut group = c.benchmark_group("seal-16KiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for suite in [Suite::Gm, Suite::IntlK1] {
        let key = vec![7u8; suite.seal_key_len()];
        let label = if suite == Suite::Gm { "sm4-gcm" } else { "aes-256-gcm" };
        group.bench_function(label, |b| b.iter(|| suite.seal(&key, &[1; 12], b"", &data).unwrap()));
    }
    group.finish();
}

fn scalar_of(key: &PrivateKey) -> Vec<u8> {
    let pem = key.to_pkcs8_pem().unwrap();
    let scalar = match key.suite() {
        Suite::Gm => <sm2::SecretKey as pkcs8::DecodePrivateKey>::from_pkcs8_pem(&pem).unwrap().to_bytes(),
        Suite::IntlK1 => {
            <k256::SecretKey as pkcs8::DecodePrivateKey>::from_pkcs8_pem(&pem).unwrap().to_bytes()
        }
        Suite::IntlR1 => {
            <p256::SecretKey as pkcs8::DecodePrivateKey>::from_pkcs8_pem(&pem).unwrap().to_bytes()
        }
    };
    scalar.to_vec()
}

fn split_der(sig: &[u8]) -> ([u8; 32], [u8; 32]) {
    let parsed = sm2::dsa::Signature::from_der(sig).unwrap();
    (parsed.r_bytes().into(), parsed.s_bytes().into())
}

// --- summary -----------------------------------------------------------------

fn criterion_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(home.into());
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir).join("criterion"));
    }
    let out =
        Command::new(std::env::var_os("CARGO")?).args(["metadata", "--format-version", "1"]).output().ok()?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(PathBuf::from(meta["target_directory"].as_str()?).join("criterion"))
}

/// Mean time per iteration in nanoseconds, from criterion's saved estimates.
fn mean_ns(home: &std::path::Path, group: &str, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(home.join(group).join(id).join("new/estimates.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn summary() {
    let Some(home) = criterion_home() else { return };
    println!("\n==== govchain-crypto summary (1 core, mean of criterion samples) ====");
    for group in ["sign", "verify", "verify-from-sec1"] {
        for id in [
            "gm-ours",
            "gm-efficient-sm2",
            "gm-efficient-sm2-uncached-za",
            "gm-rustcrypto",
            "intl-k1-ours",
            "intl-r1-ours",
            "intl-r1-rustcrypto-p256",
        ] {
            if let Some(ns) = mean_ns(&home, group, id) {
                println!("{group:>17} {id:<30} {:>9.0} ops/s", 1e9 / ns);
            }
        }
    }
    for group in ["hash-1KiB", "hash-64KiB"] {
        for (suite, len) in Suite::ALL.map(|s| (s, if group == "hash-1KiB" { 1024.0 } else { 65536.0 })) {
            if let Some(ns) = mean_ns(&home, group, suite.name()) {
                println!(
                    "{group:>17} {:<30} {:>9.1} MiB/s",
                    suite.name(),
                    len / ns * 1e9 / (1024.0 * 1024.0)
                );
            }
        }
    }
    for id in ["sm4-gcm", "aes-256-gcm"] {
        if let Some(ns) = mean_ns(&home, "seal-16KiB", id) {
            println!("{:>17} {id:<30} {:>9.1} MiB/s", "seal-16KiB", 16384.0 / ns * 1e9 / (1024.0 * 1024.0));
        }
    }
    let ratio = |group: &str, ours: &str, base: &str| -> Option<f64> {
        Some(mean_ns(&home, group, base)? / mean_ns(&home, group, ours)?)
    };
    println!("ratios (baseline time / our time, >1 means ours is faster):");
    for (what, group, ours, base) in [
        ("SM2 verify vs RustCrypto sm2", "verify", "gm-ours", "gm-rustcrypto"),
        ("SM2 verify vs efficient-sm2 w/o cached Z_A", "verify", "gm-ours", "gm-efficient-sm2-uncached-za"),
        ("SM2 sign (constant-time) vs efficient-sm2", "sign", "gm-ours", "gm-efficient-sm2"),
        ("SM2 sign vs RustCrypto SigningKey", "sign", "gm-ours", "gm-rustcrypto"),
        ("P-256 verify ring vs RustCrypto", "verify", "intl-r1-ours", "intl-r1-rustcrypto-p256"),
        ("P-256 sign ring vs RustCrypto", "sign", "intl-r1-ours", "intl-r1-rustcrypto-p256"),
    ] {
        if let Some(r) = ratio(group, ours, base) {
            println!("  {what:<45} x{r:.2}");
        }
    }
}

fn main() {
    let mut c = config();
    sign(&mut c);
    verify(&mut c);
    hash(&mut c);
    aead(&mut c);
    c.final_summary();
    summary();
}
