//! Reading govchain certificates and verifying root -> operating CA -> leaf chains.
//!
//! This verifier knows exactly one shape of chain (the one [`crate::ChainCa`] issues) and is
//! deliberately strict about it; it is not a general RFC 5280 path builder.

use std::{fmt, net::IpAddr, time::SystemTime};

use der::{
    Decode, Encode, Sequence,
    asn1::{AnyRef, BitStringRef},
    oid::{
        AssociatedOid,
        db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH},
    },
    pem::LineEnding,
};
use govchain_crypto::Suite;
use x509_cert::{
    Certificate, Version,
    ext::pkix::{
        AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName,
        SubjectKeyIdentifier, name::GeneralName,
    },
};

use crate::{
    CertKind, Error, Result, Validity,
    keys::{self, PublicKey},
    profile,
};

/// Which certificate of a chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// The self-signed root CA certificate.
    Root,
    /// The operating (intermediate) CA certificate.
    Operating,
    /// The node or user certificate.
    Leaf,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertRole::Root => "root CA certificate",
            CertRole::Operating => "operating CA certificate",
            CertRole::Leaf => "leaf certificate",
        })
    }
}

/// What a govchain certificate says, as read by [`parse`] or returned by a successful
/// [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The suite of the certificate's public key.
    pub suite: Suite,
    /// CA, node or user (subject `OU`, cross-checked against basicConstraints).
    pub kind: CertKind,
    /// Subject `CN`.
    pub common_name: String,
    /// Subject `O` (the department).
    pub organization: String,
    /// Issuer `CN`.
    pub issuer_common_name: String,
    /// Serial number, lowercase hex of the INTEGER's magnitude.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// The subject public key as an SPKI PEM (`PUBLIC KEY`).
    pub public_key_pem: String,
    /// The subject public key as SPKI DER.
    pub public_key_der: Vec<u8>,
    /// subjectAltName DNS names.
    pub dns_names: Vec<String>,
    /// subjectAltName IP addresses.
    pub ip_addresses: Vec<IpAddr>,
}

/// Reads a govchain certificate (PEM) without checking any signature or validity window.
///
/// Fails on anything that is not exactly one well-formed X.509 v3 certificate following the
/// govchain profile (EC key of a known suite, matching signature algorithm, `CN`/`O`/`OU`,
/// no unknown critical extension).
pub fn parse(pem: &str) -> Result<CertInfo> {
    ParsedCert::from_pem(pem)?.info()
}

/// The DER bytes of a govchain certificate in PEM (what a transaction's
/// signer carries), checked like [`parse`].
pub fn to_der(pem: &str) -> Result<Vec<u8>> {
    ParsedCert::from_pem(pem)?.cert.to_der().map_err(|e| Error::Malformed(e.to_string()))
}

/// Verifies `leaf_pem` against the chain `operating_pem` -> `root_pem` at time `at`.
///
/// Checks, for all three certificates: the govchain profile ([`parse`]), that keys and
/// signature algorithms belong to `suite`, the validity window at `at`, issuer/subject linkage
/// and authority/subject key identifiers, and each signature (the root's over itself). The two
/// CA certificates must be CAs (basicConstraints cA, critical; keyUsage keyCertSign; the root's
/// pathLen allows the operating CA), the leaf must be a node or user certificate with
/// digitalSignature and the clientAuth (nodes also serverAuth) extended key usage.
///
/// Revocation is not checked here: revocation is an on-chain state the caller consults.
pub fn verify_chain(
    suite: Suite,
    leaf_pem: &str,
    operating_pem: &str,
    root_pem: &str,
    at: SystemTime,
) -> Result<CertInfo> {
    let root = ParsedCert::from_pem(root_pem)?;
    let operating = ParsedCert::from_pem(operating_pem)?;
    let leaf = ParsedCert::from_pem(leaf_pem)?;

    root.check_ca(suite, CertRole::Root, &root)?;
    operating.check_ca(suite, CertRole::Operating, &root)?;
    let info = leaf.check_leaf(suite, &operating)?;

    for (cert, role) in [(&root, CertRole::Root), (&operating, CertRole::Operating), (&leaf, CertRole::Leaf)]
    {
        let window = cert.validity();
        if at < window.not_before() {
            return Err(Error::NotYetValid(role));
        }
        if at > window.not_after() {
            return Err(Error::Expired(role));
        }
    }
    Ok(info)
}

/// The `Certificate` fields as raw DER, to get at the exact signed bytes.
#[derive(Sequence)]
struct RawCertificate<'a> {
    tbs_certificate: AnyRef<'a>,
    signature_algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
}

/// A decoded certificate plus the exact DER of its `TBSCertificate`.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCert {
    pub(crate) cert: Certificate,
    /// The signed bytes as they appear in the input (never a re-encoding).
    tbs_der: Vec<u8>,
}

impl ParsedCert {
    pub(crate) fn from_pem(pem: &str) -> Result<Self> {
        let pem = pem.trim();
        if pem.matches("-----BEGIN ").count() != 1 {
            return Err(Error::Malformed("expected exactly one PEM block".into()));
        }
        let (label, der) =
            der::pem::decode_vec(pem.as_bytes()).map_err(|e| Error::Malformed(format!("not PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(Error::Malformed(format!("expected a `CERTIFICATE` PEM, found `{label}`")));
        }
        Self::from_der(&der)
    }

    pub(crate) fn from_der(der: &[u8]) -> Result<Self> {
        let malformed = |e: der::Error| Error::Malformed(format!("not an X.509 certificate: {e}"));
        let cert = Certificate::from_der(der).map_err(malformed)?;
        let raw = RawCertificate::from_der(der).map_err(malformed)?;
        let tbs_der = raw.tbs_certificate.to_der().map_err(malformed)?;
        Ok(Self { cert, tbs_der })
    }

    pub(crate) fn validity(&self) -> Validity {
        let v = self.cert.tbs_certificate().validity();
        Validity::from_parsed(v.not_before.to_system_time(), v.not_after.to_system_time())
    }

    /// Decodes the single extension of type `T`, if present.
    pub(crate) fn extension<T>(&self) -> Result<Option<T>>
    where
        T: for<'a> Decode<'a, Error = der::Error> + AssociatedOid,
    {
        Ok(self.critical_extension::<T>()?.map(|(_, ext)| ext))
    }

    fn critical_extension<T>(&self) -> Result<Option<(bool, T)>>
    where
        T: for<'a> Decode<'a, Error = der::Error> + AssociatedOid,
    {
        self.cert
            .tbs_certificate()
            .get_extension::<T>()
            .map_err(|e| Error::Malformed(format!("extension {}: {e}", T::OID)))
    }

    /// Reads the profile fields; no signature or time checks.
    pub(crate) fn info(&self) -> Result<CertInfo> {
        let tbs = self.cert.tbs_certificate();
        if tbs.version() != Version::V3 {
            return Err(Error::Profile("not an X.509 v3 certificate".into()));
        }

        let spki = tbs.subject_public_key_info();
        let suite = keys::suite_of_spki(spki)?;
        // The key must also be a valid point of its curve.
        PublicKey::from_spki(suite, spki)?;
        let public_key_der = spki.to_der().map_err(|e| Error::Malformed(format!("SPKI: {e}")))?;
        let public_key_pem = der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &public_key_der)
            .map_err(|e| Error::Encode(format!("SPKI PEM: {e}")))?;

        let sig_alg = self.cert.signature_algorithm();
        if sig_alg != tbs.signature() {
            return Err(Error::Profile(
                "signatureAlgorithm differs from the TBSCertificate's signature field".into(),
            ));
        }
        if sig_alg.oid != keys::signature_oid(suite) || sig_alg.parameters.is_some() {
            return Err(Error::Profile(format!(
                "signature algorithm {} does not fit a {suite} key",
                sig_alg.oid
            )));
        }

        let mut seen = Vec::new();
        for ext in tbs.extensions().into_iter().flatten() {
            if seen.contains(&ext.extn_id) {
                return Err(Error::Profile(format!("extension {} appears twice", ext.extn_id)));
            }
            seen.push(ext.extn_id);
            if ext.critical && !profile::known_extension(&ext.extn_id) {
                return Err(Error::Profile(format!("unknown critical extension {}", ext.extn_id)));
            }
        }

        let name_part = |v: der::Result<Option<x509_cert::ext::pkix::name::DirectoryString>>,
                         what: &str|
         -> Result<String> {
            v.map_err(|e| Error::Malformed(format!("{what}: {e}")))?
                .map(String::from)
                .ok_or_else(|| Error::Profile(format!("{what} missing")))
        };
        let subject = tbs.subject();
        let common_name = name_part(subject.common_name(), "subject CN")?;
        let organization = name_part(subject.organization(), "subject O")?;
        let kind: CertKind = name_part(subject.organization_unit(), "subject OU")?.parse()?;
        let issuer_common_name = name_part(tbs.issuer().common_name(), "issuer CN")?;

        let is_ca = self.extension::<BasicConstraints>()?.is_some_and(|bc| bc.ca);
        if is_ca != (kind == CertKind::Ca) {
            return Err(Error::Profile(format!("OU={kind} but basicConstraints cA={is_ca}")));
        }

        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        if let Some(san) = self.extension::<SubjectAltName>()? {
            for name in san.0 {
                match name {
                    GeneralName::DnsName(s) => dns_names.push(s.to_string()),
                    GeneralName::IpAddress(octets) => {
                        let bytes = octets.as_bytes();
                        let ip = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                            IpAddr::from(v4)
                        } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                            IpAddr::from(v6)
                        } else {
                            return Err(Error::Malformed("SAN IP address is neither 4 nor 16 bytes".into()));
                        };
                        ip_addresses.push(ip);
                    }
                    // Other name forms are legal X.509 but not part of our profile; they are
                    // ignored rather than trusted.
                    _ => {}
                }
            }
        }

        let validity = tbs.validity();
        Ok(CertInfo {
            suite,
            kind,
            common_name,
            organization,
            issuer_common_name,
            serial: hex_lower(tbs.serial_number().as_bytes()),
            not_before: validity.not_before.to_system_time(),
            not_after: validity.not_after.to_system_time(),
            public_key_pem,
            public_key_der,
            dns_names,
            ip_addresses,
        })
    }

    /// Profile, CA constraints and signature check of a CA certificate issued by `issuer`
    /// (`issuer` is the certificate itself for the root).
    pub(crate) fn check_ca(&self, suite: Suite, role: CertRole, issuer: &ParsedCert) -> Result<()> {
        let info = self.info_of_suite(suite, role)?;
        let profile_err = |why: &str| Error::Profile(format!("{role}: {why}"));
        if info.kind != CertKind::Ca {
            return Err(profile_err("not a CA certificate (OU)"));
        }
        match self.critical_extension::<BasicConstraints>()? {
            Some((true, bc)) if bc.ca => {
                let min_path_len = if role == CertRole::Root { 1 } else { 0 };
                if bc.path_len_constraint.is_some_and(|n| n < min_path_len) {
                    return Err(profile_err("pathLenConstraint too small for this chain"));
                }
            }
            _ => return Err(profile_err("needs a critical basicConstraints with cA=TRUE")),
        }
        match self.extension::<KeyUsage>()? {
            Some(ku) if ku.key_cert_sign() => {}
            _ => return Err(profile_err("keyUsage lacks keyCertSign")),
        }
        if role == CertRole::Root
            && self.cert.tbs_certificate().issuer() != self.cert.tbs_certificate().subject()
        {
            return Err(profile_err("root is not self-issued"));
        }
        self.check_signed_by(issuer, role)
    }

    /// Profile, leaf constraints and signature check of a node/user certificate.
    fn check_leaf(&self, suite: Suite, issuer: &ParsedCert) -> Result<CertInfo> {
        let role = CertRole::Leaf;
        let info = self.info_of_suite(suite, role)?;
        let profile_err = |why: String| Error::Profile(format!("{role}: {why}"));
        if info.kind == CertKind::Ca {
            return Err(profile_err("a CA certificate is not a leaf".into()));
        }
        match self.extension::<KeyUsage>()? {
            Some(ku) if ku.digital_signature() => {}
            _ => return Err(profile_err("keyUsage lacks digitalSignature".into())),
        }
        let eku = self.extension::<ExtendedKeyUsage>()?.unwrap_or(ExtendedKeyUsage(Vec::new()));
        let mut needed = vec![ID_KP_CLIENT_AUTH];
        if info.kind == CertKind::Node {
            needed.push(ID_KP_SERVER_AUTH);
        }
        if let Some(missing) = needed.iter().find(|oid| !eku.0.contains(oid)) {
            return Err(profile_err(format!("{} certificate lacks extended key usage {missing}", info.kind)));
        }
        self.check_signed_by(issuer, role)?;
        Ok(info)
    }

    fn info_of_suite(&self, suite: Suite, role: CertRole) -> Result<CertInfo> {
        let info = self.info()?;
        if info.suite != suite {
            return Err(Error::SuiteMismatch { expected: suite, found: format!("{} ({role})", info.suite) });
        }
        Ok(info)
    }

    /// Issuer name linkage, the signature, then key identifier linkage.
    fn check_signed_by(&self, issuer: &ParsedCert, role: CertRole) -> Result<()> {
        let tbs = self.cert.tbs_certificate();
        let issuer_tbs = issuer.cert.tbs_certificate();
        if tbs.issuer() != issuer_tbs.subject() {
            return Err(Error::ChainMismatch(format!(
                "{role}: issuer `{}` is not `{}`",
                tbs.issuer(),
                issuer_tbs.subject()
            )));
        }
        let spki = issuer_tbs.subject_public_key_info();
        let issuer_key = PublicKey::from_spki(keys::suite_of_spki(spki)?, spki)?;
        let signature = self.cert.signature().as_bytes().ok_or(Error::BadSignature(role))?;
        if !issuer_key.verify(&self.tbs_der, signature) {
            return Err(Error::BadSignature(role));
        }
        let aki = self.extension::<AuthorityKeyIdentifier>()?.and_then(|aki| aki.key_identifier);
        let ski = issuer.extension::<SubjectKeyIdentifier>()?;
        if let (Some(aki), Some(ski)) = (aki, ski)
            && aki != ski.0
        {
            return Err(Error::ChainMismatch(format!(
                "{role}: authorityKeyIdentifier does not match the issuer's subjectKeyIdentifier"
            )));
        }
        Ok(())
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
        s
    })
}
