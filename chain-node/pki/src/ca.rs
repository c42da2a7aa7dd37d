//! The per-chain CA: an offline root that only ever signs operating CAs, and the online
//! operating CA that issues node and user certificates.

use std::fmt;

use der::referenced::OwnedToRef;
use der::{EncodePem, asn1::BitString, pem::LineEnding};
use govchain_crypto::Suite;
use x509_cert::{
    Certificate,
    builder::{Builder, CertificateBuilder},
    ext::pkix::SubjectKeyIdentifier,
    serial_number::SerialNumber,
};
use zeroize::Zeroizing;

use crate::{
    CertKind, CertRole, Error, IssueRequest, Result, Validity,
    cert::ParsedCert,
    keys::{PublicKey, SigningKey},
    profile::{self, Profile, Role},
};

/// A CA certificate with its private key, both PEM. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct CaKeyPair {
    /// The CA certificate (`-----BEGIN CERTIFICATE-----`).
    pub cert_pem: String,
    /// The CA private key as PKCS#8 (`-----BEGIN PRIVATE KEY-----`); wiped when dropped.
    pub key_pem: Zeroizing<String>,
}

impl fmt::Debug for CaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaKeyPair").field("cert_pem", &self.cert_pem).field("key_pem", &"<redacted>").finish()
    }
}

/// The root CA's private key (PKCS#8 PEM), handed out once by [`ChainCa::create`] to be kept
/// offline; it is needed again only to sign a new operating CA ([`ChainCa::rotate_operating`]).
/// `Debug` never shows it; it is wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct RootKey(Zeroizing<String>);

impl RootKey {
    /// Wraps a stored root key PEM (checked when it is used).
    pub fn from_pem(pem: impl Into<String>) -> Self {
        Self(Zeroizing::new(pem.into()))
    }

    /// The PKCS#8 PEM, for writing to offline storage.
    pub fn pem(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// A chain's CA as the online service holds it: the root certificate (no root key) and the
/// operating CA's certificate and key. `Debug` shows the certificates, never the key.
#[derive(Clone)]
pub struct ChainCa {
    suite: Suite,
    root_cert_pem: String,
    operating: CaKeyPair,
    // Decoded forms of the two PEMs above, kept so issuing does not re-parse them.
    operating_cert: ParsedCert,
    operating_key: SigningKey,
}

impl fmt::Debug for ChainCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainCa")
            .field("suite", &self.suite)
            .field("root_cert_pem", &self.root_cert_pem)
            .field("operating", &self.operating)
            .finish_non_exhaustive()
    }
}

impl ChainCa {
    /// Creates a new root CA and an operating CA signed by it.
    ///
    /// Subjects are `O=<org>, OU=ca, CN=<chain_id> root CA` and
    /// `O=<org>, OU=ca, CN=<chain_id> operating CA`. The operating CA's window must lie inside
    /// the root's. Returns the root key separately: store it offline and drop it.
    pub fn create(
        suite: Suite,
        chain_id: &str,
        org: &str,
        root_validity: Validity,
        operating_validity: Validity,
    ) -> Result<(ChainCa, RootKey)> {
        profile::check_name_value("chain id", chain_id)?;
        profile::check_name_value("organization", org)?;
        if operating_validity.not_before() < root_validity.not_before()
            || operating_validity.not_after() > root_validity.not_after()
        {
            return Err(Error::InvalidRequest(
                "the operating CA's validity must lie inside the root CA's".into(),
            ));
        }

        let root_key = SigningKey::generate(suite)?;
        let root_subject = ca_subject(org, chain_id, "root CA")?;
        let root_profile =
            Profile { subject: root_subject, issuer: None, issuer_key_id: None, role: Role::Root };
        let root_cert = build(root_profile, root_validity, &root_key.public_key(), &root_key)?;
        let root_cert_pem = to_pem(&root_cert)?;
        let root = ParsedCert::from_pem(&root_cert_pem)?;

        let subject = ca_subject(org, chain_id, "operating CA")?;
        let ca = Self::new_operating(suite, &root, root_cert_pem, &root_key, subject, operating_validity)?;
        tracing::info!(
            target: "govchain::pki",
            %suite,
            chain_id,
            "created root and operating CA"
        );
        let root_key_pem = RootKey(root_key.to_pkcs8_pem()?);
        Ok((ca, root_key_pem))
    }

    /// Restores the online CA from storage, checking that the operating certificate is a CA
    /// certificate signed by the root, that the key is its key, and that all three are of
    /// `suite`. Validity windows are not checked here (an expired CA can still be loaded to
    /// inspect it; issuing from it fails).
    pub fn load(
        suite: Suite,
        root_cert_pem: &str,
        operating_cert_pem: &str,
        operating_key_pem: &str,
    ) -> Result<ChainCa> {
        let root = ParsedCert::from_pem(root_cert_pem)?;
        let operating = ParsedCert::from_pem(operating_cert_pem)?;
        root.check_ca(suite, CertRole::Root, &root)?;
        operating.check_ca(suite, CertRole::Operating, &root)?;
        let operating_key = SigningKey::from_pkcs8_pem(suite, operating_key_pem)?;
        if !operating_key.matches(operating.cert.tbs_certificate().subject_public_key_info().owned_to_ref()) {
            return Err(Error::Key(
                "the operating CA key does not belong to the operating CA certificate".into(),
            ));
        }
        Ok(ChainCa {
            suite,
            root_cert_pem: root_cert_pem.to_owned(),
            operating: CaKeyPair {
                cert_pem: operating_cert_pem.to_owned(),
                key_pem: Zeroizing::new(operating_key_pem.to_owned()),
            },
            operating_cert: operating,
            operating_key,
        })
    }

    /// Makes a new operating CA (fresh key, same subject) signed by the root key, e.g. before
    /// the current one expires. Certificates issued by the old operating CA stay verifiable with
    /// the old operating certificate.
    pub fn rotate_operating(&self, root_key: &RootKey, validity: Validity) -> Result<ChainCa> {
        let root = ParsedCert::from_pem(&self.root_cert_pem)?;
        let root_signer = SigningKey::from_pkcs8_pem(self.suite, root_key.pem())?;
        if !root_signer.matches(root.cert.tbs_certificate().subject_public_key_info().owned_to_ref()) {
            return Err(Error::Key("the root key does not belong to this chain's root certificate".into()));
        }
        let root_window = root.validity();
        if validity.not_before() < root_window.not_before() || validity.not_after() > root_window.not_after()
        {
            return Err(Error::InvalidRequest(
                "the operating CA's validity must lie inside the root CA's".into(),
            ));
        }
        let subject = self.operating_cert.cert.tbs_certificate().subject().clone();
        let ca = Self::new_operating(
            self.suite,
            &root,
            self.root_cert_pem.clone(),
            &root_signer,
            subject,
            validity,
        )?;
        tracing::info!(target: "govchain::pki", suite = %self.suite, "rotated the operating CA");
        Ok(ca)
    }

    /// Issues a node or user certificate signed by the operating CA; returns its PEM.
    pub fn issue(&self, req: &IssueRequest) -> Result<String> {
        profile::check_name_value("common name", &req.common_name)?;
        profile::check_name_value("organization", &req.organization)?;
        let sans = match req.kind {
            CertKind::Ca => {
                return Err(Error::InvalidRequest(
                    "CA certificates are made by ChainCa::create, not issued".into(),
                ));
            }
            CertKind::Node => {
                if req.dns_names.is_empty() && req.ip_addresses.is_empty() {
                    return Err(Error::InvalidRequest(
                        "a node certificate needs at least one DNS name or IP address".into(),
                    ));
                }
                profile::general_names(&req.dns_names, &req.ip_addresses)?
            }
            CertKind::User => {
                if !req.dns_names.is_empty() || !req.ip_addresses.is_empty() {
                    return Err(Error::InvalidRequest("user certificates carry no DNS / IP names".into()));
                }
                Vec::new()
            }
        };
        let op_window = self.operating_cert.validity();
        if req.validity.not_after() > op_window.not_after() {
            return Err(Error::InvalidRequest(
                "the certificate would outlive the operating CA; rotate the operating CA first".into(),
            ));
        }
        let subject_key = PublicKey::from_spki_pem(self.suite, &req.subject_public_key_pem)?;
        let tbs = self.operating_cert.cert.tbs_certificate();
        let profile = Profile {
            subject: profile::subject_name(&req.organization, req.kind, &req.common_name)?,
            issuer: Some(tbs.subject().clone()),
            issuer_key_id: self.operating_key_id(),
            role: Role::Leaf { kind: req.kind, sans: sans.clone() },
        };
        let cert = build(profile, req.validity, &subject_key, &self.operating_key)?;
        tracing::info!(
            target: "govchain::pki",
            kind = %req.kind,
            common_name = %req.common_name,
            serial = %cert.tbs_certificate().serial_number(),
            "issued certificate"
        );
        to_pem(&cert)
    }

    /// The chain's crypto suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The root CA certificate: the chain's trust anchor.
    pub fn root_cert_pem(&self) -> &str {
        &self.root_cert_pem
    }

    /// The operating CA certificate, sent along with issued certificates as the intermediate.
    pub fn operating_cert_pem(&self) -> &str {
        &self.operating.cert_pem
    }

    /// The operating CA's certificate and key, for storing the online CA.
    pub fn operating(&self) -> &CaKeyPair {
        &self.operating
    }

    /// Verifies a certificate issued by this CA at `at` (see [`crate::verify_chain`]).
    pub fn verify(&self, leaf_pem: &str, at: std::time::SystemTime) -> Result<crate::CertInfo> {
        crate::verify_chain(self.suite, leaf_pem, &self.operating.cert_pem, &self.root_cert_pem, at)
    }

    fn operating_key_id(&self) -> Option<Vec<u8>> {
        self.operating_cert
            .extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .map(|ski| ski.0.as_bytes().to_vec())
    }

    /// Builds an operating CA with a fresh key under `root`.
    fn new_operating(
        suite: Suite,
        root: &ParsedCert,
        root_cert_pem: String,
        root_key: &SigningKey,
        subject: x509_cert::name::Name,
        validity: Validity,
    ) -> Result<ChainCa> {
        let operating_key = SigningKey::generate(suite)?;
        let profile = Profile {
            subject,
            issuer: Some(root.cert.tbs_certificate().subject().clone()),
            issuer_key_id: root
                .extension::<SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .map(|ski| ski.0.as_bytes().to_vec()),
            role: Role::Operating,
        };
        let cert = build(profile, validity, &operating_key.public_key(), root_key)?;
        let cert_pem = to_pem(&cert)?;
        let operating_cert = ParsedCert::from_pem(&cert_pem)?;
        Ok(ChainCa {
            suite,
            root_cert_pem,
            operating: CaKeyPair { cert_pem, key_pem: operating_key.to_pkcs8_pem()? },
            operating_cert,
            operating_key,
        })
    }
}

fn ca_subject(org: &str, chain_id: &str, what: &str) -> Result<x509_cert::name::Name> {
    let cn = format!("{chain_id} {what}");
    profile::check_name_value("CA common name (chain id + suffix)", &cn)?;
    profile::subject_name(org, CertKind::Ca, &cn)
}

/// 16 random bytes with the top bit cleared: a positive 127-bit serial (RFC 5280 §4.1.2.2
/// wants positive and at most 20 octets; CA/B forum wants at least 64 random bits).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(Error::Random)?;
    bytes[0] &= 0x7f;
    // A zero first byte is fine: the INTEGER encoder strips leading zeros.
    SerialNumber::new(&bytes).map_err(|e| Error::Encode(format!("serial number: {e}")))
}

fn build(
    profile: Profile,
    validity: Validity,
    subject_key: &PublicKey,
    signer: &SigningKey,
) -> Result<Certificate> {
    let spki = subject_key.to_spki()?;
    let mut builder =
        CertificateBuilder::new(profile, random_serial()?, validity.to_x509()?, spki).map_err(builder_err)?;
    let tbs_der = builder.finalize(signer).map_err(builder_err)?;
    let sig = signer.sign_der(&tbs_der)?;
    let sig = BitString::from_bytes(&sig).map_err(|e| Error::Encode(e.to_string()))?;
    let cert = builder.assemble(sig, signer).map_err(builder_err)?;
    Ok(cert)
}

fn to_pem(cert: &Certificate) -> Result<String> {
    cert.to_pem(LineEnding::LF).map_err(|e| Error::Encode(format!("certificate PEM: {e}")))
}

fn builder_err(e: x509_cert::builder::Error) -> Error {
    Error::Encode(format!("certificate builder: {e}"))
}
