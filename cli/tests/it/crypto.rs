use crate::{govchain, ok, openssl};

#[test]
fn key_gen_writes_pems_that_openssl_reads_and_prints_the_address() {
    let dir = tempfile::tempdir().unwrap();
    for suite in ["gm", "intl-k1", "intl-r1"] {
        let out = dir.path().join(suite);
        let printed = ok(&["key", "gen", "--suite", suite, "--out", out.to_str().unwrap()]);
        let address = printed.trim().strip_prefix("address=0x").expect("address=0x...");
        assert_eq!(address.len(), 40, "{printed}");
        let r = openssl(&["pkey", "-in", "key.pem", "-noout", "-text"], &out);
        assert!(r.status.success(), "{suite}: {}", String::from_utf8_lossy(&r.stderr));
        let r = openssl(&["pkey", "-pubin", "-in", "pub.pem", "-noout"], &out);
        assert!(r.status.success(), "{suite}: {}", String::from_utf8_lossy(&r.stderr));
        // Never overwrite a key.
        assert!(
            !govchain(&["key", "gen", "--suite", suite, "--out", out.to_str().unwrap()]).status.success()
        );
    }
}

#[test]
fn hash_matches_openssl_digests() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.txt");
    std::fs::write(&file, "政务数据 evidence\n").unwrap();
    let f = file.to_str().unwrap();
    for (suite, digest) in [("gm", "-sm3"), ("intl-r1", "-sha256")] {
        let ours = ok(&["crypto", "hash", "--suite", suite, f]);
        let theirs = openssl(&["dgst", digest, "-r", "doc.txt"], dir.path());
        let theirs = String::from_utf8(theirs.stdout).unwrap();
        assert_eq!(ours.trim(), theirs.split_whitespace().next().unwrap(), "{suite}");
    }
    // Keccak-256 of the empty input (Ethereum's well-known value).
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(
        ok(&["crypto", "hash", "--suite", "intl-k1", empty.to_str().unwrap()]).trim(),
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    );
}

#[test]
fn sm2_signatures_interoperate_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_owned();
    std::fs::write(d.join("doc"), b"sign me").unwrap();
    ok(&["key", "gen", "--suite", "gm", "--out", &p("me")]);

    // We sign, OpenSSL verifies (SM3 with the standard ID 1234567812345678).
    ok(&["crypto", "sign", "--key", &p("me/key.pem"), "--out", &p("doc.sig"), &p("doc")]);
    let r = openssl(
        &[
            "dgst",
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-verify",
            "me/pub.pem",
            "-signature",
            "doc.sig",
            "doc",
        ],
        d,
    );
    assert!(r.status.success(), "openssl rejects our SM2 signature: {}", String::from_utf8_lossy(&r.stderr));

    // OpenSSL signs with its own key, we verify.
    assert!(openssl(&["genpkey", "-algorithm", "SM2", "-out", "ossl.pem"], d).status.success());
    assert!(openssl(&["pkey", "-in", "ossl.pem", "-pubout", "-out", "ossl.pub"], d).status.success());
    let r = openssl(
        &[
            "dgst",
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-sign",
            "ossl.pem",
            "-out",
            "ossl.sig",
            "doc",
        ],
        d,
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        ok(&["crypto", "verify", "--pub", &p("ossl.pub"), "--sig", &p("ossl.sig"), &p("doc")]).contains("OK")
    );

    // A changed file does not verify; the command fails with a message.
    std::fs::write(d.join("doc"), b"sign me!").unwrap();
    let out = govchain(&["crypto", "verify", "--pub", &p("ossl.pub"), "--sig", &p("ossl.sig"), &p("doc")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
}

#[test]
fn bad_inputs_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    let j = junk.to_str().unwrap();
    for args in [
        vec!["crypto", "sign", "--key", j, "--out", "/dev/null", j],
        vec!["crypto", "verify", "--pub", j, "--sig", j, j],
        vec!["crypto", "hash", "--suite", "md5", j],
        vec!["crypto", "hash", "--suite", "gm", "/no/such/file"],
    ] {
        let out = govchain(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} must say what is wrong");
    }
}
