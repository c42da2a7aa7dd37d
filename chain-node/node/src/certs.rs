//! Signer certificates: which organization a transaction acts for.
//!
//! A signer may carry a DER certificate from the chain's CA (the genesis
//! `ca`). The sender's certificate `O` is the transaction's organization; a
//! sender without one is an organization of its own, named by its address
//! (a dev chain without certificates treats every key as its own
//! organization). Every certificate a transaction carries must verify, for
//! its signer's key, or the transaction is refused.
//!
//! The same check runs twice: on admission against the wall clock, and in
//! block execution against the block time, so every node that executes a
//! block derives the same organizations. Verified certificates are cached by
//! the hash of their DER together with the window in which they verify; a
//! hit inside the window is exactly what a full verification would say, and
//! anything else (a miss, or a time outside the window) runs the full
//! verification, so answers and error messages never depend on what a node
//! happens to have cached.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use govchain_crypto::{Address, PublicKey, Suite};
use govchain_pki::CertKind;
use govchain_types::{Hash, Signer};

use crate::{Error, Result, config::GenesisCa, node::lock};

/// Most verified certificates kept; a chain has far fewer active signers.
pub const CACHE_CAPACITY: usize = 10_000;

/// The chain's trust anchor, read once from the genesis.
struct Anchor {
    root_pem: String,
    operating_pem: String,
    /// The intersection of the two CA certificates' validity windows.
    not_before: SystemTime,
    not_after: SystemTime,
}

/// What a verified certificate says, and when that holds.
#[derive(Debug)]
struct Verified {
    organization: String,
    key: PublicKey,
    /// Where the leaf's and both CA windows overlap (inclusive, as X.509).
    not_before: SystemTime,
    not_after: SystemTime,
}

#[derive(Default)]
struct Cache {
    map: HashMap<Hash, Arc<Verified>>,
    /// Insertion order, for first-in-first-out eviction.
    order: VecDeque<Hash>,
}

/// Verifies signer certificates against the genesis CA, with a cache.
pub(crate) struct Certs {
    suite: Suite,
    anchor: Option<Anchor>,
    cache: Mutex<Cache>,
}

impl Certs {
    /// Reads the genesis CA (`None`: the chain refuses certificates).
    pub(crate) fn new(suite: Suite, ca: Option<&GenesisCa>) -> Result<Certs> {
        let anchor = match ca {
            None => None,
            Some(ca) => {
                let parse = |what: &str, pem: &str| {
                    govchain_pki::parse(pem).map_err(|e| Error::Config(format!("genesis ca.{what}: {e}")))
                };
                let root = parse("root_cert_pem", &ca.root_cert_pem)?;
                let operating = parse("operating_cert_pem", &ca.operating_cert_pem)?;
                Some(Anchor {
                    root_pem: ca.root_cert_pem.clone(),
                    operating_pem: ca.operating_cert_pem.clone(),
                    not_before: root.not_before.max(operating.not_before),
                    not_after: root.not_after.min(operating.not_after),
                })
            }
        };
        Ok(Certs { suite, anchor, cache: Mutex::default() })
    }

    /// When the chain CA stops verifying (the earlier of the root's and
    /// the operating CA's end); `None` without a CA.
    pub(crate) fn ca_not_after(&self) -> Option<SystemTime> {
        self.anchor.as_ref().map(|a| a.not_after)
    }

    /// The organization of a transaction with these signers at time `at`:
    /// the sender's (first signer's) certificate `O`, or `None` when the
    /// sender has no certificate. Fails with [`Error::BadCertificate`] if any
    /// signer's certificate does not verify at `at` or certifies another key.
    pub(crate) fn organization(&self, signers: &[Signer], at: SystemTime) -> Result<Option<String>> {
        let mut org = None;
        for (index, signer) in signers.iter().enumerate() {
            let Some(der) = &signer.certificate else { continue };
            let verified = self
                .verify(der, at)
                .map_err(|why| Error::BadCertificate(format!("certificate of signer {index}: {why}")))?;
            let key = PublicKey::from_sec1(self.suite, &signer.public_key).map_err(|e| {
                Error::BadCertificate(format!(
                    "certificate of signer {index}: the signer's key is invalid: {e}"
                ))
            })?;
            if key != verified.key {
                return Err(Error::BadCertificate(format!(
                    "certificate of signer {index} certifies another public key than the signer's"
                )));
            }
            if index == 0 {
                org = Some(verified.organization.clone());
            }
        }
        Ok(org)
    }

    /// The verified contents of one certificate at `at`, or why it is refused.
    fn verify(&self, der: &[u8], at: SystemTime) -> std::result::Result<Arc<Verified>, String> {
        let Some(anchor) = &self.anchor else {
            return Err(
                "this chain has no CA, so it accepts no certificates (send the transaction without one)"
                    .into(),
            );
        };
        let id = Hash(self.suite.hash(der));
        if let Some(hit) = lock(&self.cache).map.get(&id)
            && hit.not_before <= at
            && at <= hit.not_after
        {
            return Ok(hit.clone());
        }
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
            .map_err(|e| format!("cannot encode as PEM: {e}"))?;
        let info = govchain_pki::verify_chain(self.suite, &pem, &anchor.operating_pem, &anchor.root_pem, at)
            .map_err(|e| format!("does not verify against the chain CA: {e}"))?;
        if !matches!(info.kind, CertKind::User | CertKind::Node) {
            return Err(format!("is a {} certificate; signers need a user or node certificate", info.kind));
        }
        if info.organization.parse::<Address>().is_ok() {
            // Certificate-less senders are organizations named by their
            // address; a certificate must not be able to join one.
            return Err(format!(
                "its organization `{}` has the form of an account address, which is reserved for senders without a certificate",
                info.organization
            ));
        }
        let key = PublicKey::from_spki_der(&info.public_key_der)
            .map_err(|e| format!("its public key cannot be read: {e}"))?;
        let verified = Arc::new(Verified {
            organization: info.organization,
            key,
            not_before: info.not_before.max(anchor.not_before),
            not_after: info.not_after.min(anchor.not_after),
        });
        let mut cache = lock(&self.cache);
        if cache.map.insert(id, verified.clone()).is_none() {
            cache.order.push_back(id);
            while cache.order.len() > CACHE_CAPACITY {
                if let Some(old) = cache.order.pop_front() {
                    cache.map.remove(&old);
                }
            }
        }
        Ok(verified)
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        lock(&self.cache).map.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use govchain_crypto::PrivateKey;
    use govchain_pki::{ChainCa, IssueRequest, Validity};

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn ca(suite: Suite) -> ChainCa {
        ChainCa::create(
            suite,
            "c",
            "org",
            Validity::days_from_now(30).expect("validity"),
            Validity::days_from_now(20).expect("validity"),
        )
        .expect("ca")
        .0
    }

    fn genesis_ca(ca: &ChainCa) -> GenesisCa {
        GenesisCa {
            root_cert_pem: ca.root_cert_pem().to_owned(),
            operating_cert_pem: ca.operating_cert_pem().to_owned(),
        }
    }

    fn signer(ca: &ChainCa, key: &PrivateKey, org: &str, validity: Validity) -> Signer {
        let pem = ca
            .issue(&IssueRequest::user("u", org, key.public_key().to_spki_pem().expect("pem"), validity))
            .expect("issue");
        let der = der::pem::decode_vec(pem.as_bytes()).expect("pem").1;
        Signer { public_key: key.public_key().to_sec1(), certificate: Some(der) }
    }

    #[test]
    fn answers_do_not_depend_on_the_cache() {
        let suite = Suite::IntlR1;
        let ca = ca(suite);
        let key = PrivateKey::generate(suite);
        let now = SystemTime::now();
        let validity = Validity::new(now - HOUR, now + HOUR).expect("validity");
        let signers = vec![signer(&ca, &key, "dept-a", validity)];
        let warm = Certs::new(suite, Some(&genesis_ca(&ca))).expect("certs");
        assert_eq!(warm.organization(&signers, now).expect("valid"), Some("dept-a".into()));
        assert_eq!(warm.cached(), 1);
        assert_eq!(warm.organization(&signers, now).expect("cache hit"), Some("dept-a".into()));
        for at in [now + 2 * HOUR, now - 2 * HOUR] {
            let cold = Certs::new(suite, Some(&genesis_ca(&ca))).expect("certs");
            let a = warm.organization(&signers, at).expect_err("outside the window").to_string();
            let b = cold.organization(&signers, at).expect_err("outside the window").to_string();
            assert_eq!(a, b, "same answer warm and cold");
            assert!(a.contains("has expired") || a.contains("not yet valid"), "{a}");
        }
        // Back inside the window the cached entry still answers.
        assert_eq!(warm.organization(&signers, now).expect("valid"), Some("dept-a".into()));
    }

    #[test]
    fn a_certificate_must_certify_its_signers_key_and_come_from_this_ca() {
        let suite = Suite::Gm;
        let ca = ca(suite);
        let certs = Certs::new(suite, Some(&genesis_ca(&ca))).expect("certs");
        let now = SystemTime::now();
        let validity = Validity::days_from_now(1).expect("validity");
        let key = PrivateKey::generate(suite);
        let mut s = signer(&ca, &key, "dept-a", validity);
        s.public_key = PrivateKey::generate(suite).public_key().to_sec1();
        let err = certs.organization(&[s], now).expect_err("other key").to_string();
        assert!(err.contains("another public key"), "{err}");

        let foreign = signer(&self::ca(suite), &key, "dept-a", validity);
        let err = certs.organization(std::slice::from_ref(&foreign), now).expect_err("other CA").to_string();
        assert!(err.contains("does not verify"), "{err}");

        let address = key.public_key().address().to_string();
        let impostor = signer(&ca, &key, &address, validity);
        let err = certs.organization(&[impostor], now).expect_err("address org").to_string();
        assert!(err.contains("form of an account address"), "{err}");

        // Only the sender's certificate names the organization; a co-signer's
        // certificate is still checked.
        let plain =
            Signer { public_key: PrivateKey::generate(suite).public_key().to_sec1(), certificate: None };
        let good = signer(&ca, &key, "dept-b", validity);
        assert_eq!(certs.organization(&[plain.clone(), good.clone()], now).expect("ok"), None);
        assert_eq!(certs.organization(&[good, plain.clone()], now).expect("ok"), Some("dept-b".into()));
        assert!(certs.organization(&[plain, foreign.clone()], now).is_err());

        let none = Certs::new(suite, None).expect("certs");
        let err = none.organization(&[foreign], now).expect_err("no CA").to_string();
        assert!(err.contains("this chain has no CA"), "{err}");
        let garbage =
            Signer { public_key: key.public_key().to_sec1(), certificate: Some(vec![0x30, 0x03, 1]) };
        assert!(certs.organization(&[garbage], now).is_err());
    }

    #[test]
    fn the_cache_is_bounded() {
        let suite = Suite::IntlR1;
        let ca = ca(suite);
        let certs = Certs::new(suite, Some(&genesis_ca(&ca))).expect("certs");
        let now = SystemTime::now();
        let validity = Validity::days_from_now(1).expect("validity");
        let key = PrivateKey::generate(suite);
        let s = signer(&ca, &key, "dept-a", validity);
        certs.organization(std::slice::from_ref(&s), now).expect("valid");
        // Fill the cache with stand-ins past its capacity; the oldest goes.
        {
            let mut cache = lock(&certs.cache);
            let entry = cache.map.values().next().cloned().expect("one entry");
            for i in 0..CACHE_CAPACITY as u64 {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&i.to_be_bytes());
                cache.map.insert(Hash(h), entry.clone());
                cache.order.push_back(Hash(h));
            }
        }
        let other = signer(&ca, &PrivateKey::generate(suite), "dept-b", validity);
        certs.organization(&[other], now).expect("valid");
        assert_eq!(certs.cached(), CACHE_CAPACITY);
        let id = Hash(suite.hash(s.certificate.as_deref().expect("cert")));
        assert!(!lock(&certs.cache).map.contains_key(&id), "the first entry was evicted");
    }
}
