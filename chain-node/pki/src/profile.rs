//! The govchain certificate profile: subject names, validity windows and the extensions each
//! kind of certificate carries.

use std::{
    fmt,
    net::IpAddr,
    str::FromStr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use der::{
    Decode, Encode,
    asn1::{Any, Ia5String, ObjectIdentifier, OctetString, SetOfVec, Utf8StringRef},
    oid::{
        AssociatedOid,
        db::rfc4519::{COMMON_NAME, ORGANIZATION_NAME, ORGANIZATIONAL_UNIT_NAME},
        db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH},
    },
};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::{
    TbsCertificate,
    attr::AttributeTypeAndValue,
    builder::profile::BuilderProfile,
    ext::{
        Extension,
        pkix::{
            AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
            SubjectKeyIdentifier, name::GeneralName,
        },
    },
    name::{Name, RdnSequence, RelativeDistinguishedName},
};

use crate::{Error, Result};

/// Upper bound of CN, O and OU values (RFC 5280 `ub-common-name` etc.).
const MAX_NAME_LEN: usize = 64;

/// How far a validity window made by [`Validity::days_from_now`] starts in the past, so a
/// certificate is usable at once on peers whose clocks run a little behind the CA's.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// What a certificate is for; written into the subject as `OU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// The chain's root CA or its operating CA (`OU=ca`).
    Ca,
    /// A consensus / peer node: TLS server and client (`OU=node`).
    Node,
    /// A user or application: TLS client and transaction signer (`OU=user`).
    User,
}

impl CertKind {
    /// The `OU` value of this kind.
    pub const fn name(self) -> &'static str {
        match self {
            CertKind::Ca => "ca",
            CertKind::Node => "node",
            CertKind::User => "user",
        }
    }
}

impl fmt::Display for CertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CertKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [CertKind::Ca, CertKind::Node, CertKind::User]
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| Error::Profile(format!("unknown certificate kind (OU) `{s}`")))
    }
}

/// A certificate's validity window, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Validity {
    /// A window from `not_before` to `not_after` (both truncated to whole seconds, as X.509
    /// stores them). Windows wholly in the past are allowed: they make expired certificates,
    /// which tests and re-issuing tools need.
    pub fn new(not_before: SystemTime, not_after: SystemTime) -> Result<Self> {
        let not_before = whole_seconds(not_before)?;
        let not_after = whole_seconds(not_after)?;
        if not_before >= not_after {
            return Err(Error::InvalidRequest("validity: not_before must be earlier than not_after".into()));
        }
        Ok(Self { not_before, not_after })
    }

    /// `days` days from now, starting [`CLOCK_SKEW_ALLOWANCE`] ago.
    pub fn days_from_now(days: u32) -> Result<Self> {
        let now = SystemTime::now();
        let start = now
            .checked_sub(CLOCK_SKEW_ALLOWANCE)
            .ok_or_else(|| Error::InvalidRequest("system clock before 1970".into()))?;
        let end = now
            .checked_add(Duration::from_secs(u64::from(days) * 86_400))
            .ok_or_else(|| Error::InvalidRequest(format!("{days} days overflows the clock")))?;
        Self::new(start, end)
    }

    /// A window read from a certificate, taken as it is.
    pub(crate) fn from_parsed(not_before: SystemTime, not_after: SystemTime) -> Self {
        Self { not_before, not_after }
    }

    /// Start of the window (inclusive).
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of the window (inclusive, as in RFC 5280).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    pub(crate) fn to_x509(self) -> Result<x509_cert::time::Validity> {
        let conv = |t: SystemTime| {
            x509_cert::time::Time::try_from(t)
                .map_err(|e| Error::InvalidRequest(format!("validity out of X.509 range: {e}")))
        };
        Ok(x509_cert::time::Validity::new(conv(self.not_before)?, conv(self.not_after)?))
    }
}

fn whole_seconds(t: SystemTime) -> Result<SystemTime> {
    let since =
        t.duration_since(UNIX_EPOCH).map_err(|_| Error::InvalidRequest("validity before 1970".into()))?;
    Ok(UNIX_EPOCH + Duration::from_secs(since.as_secs()))
}

/// What the operating CA is asked to certify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// [`CertKind::Node`] or [`CertKind::User`]; CA certificates are made by
    /// [`crate::ChainCa::create`] only.
    pub kind: CertKind,
    /// Subject `CN`: the node or user name (1..=64 characters).
    pub common_name: String,
    /// Subject `O`: the department (organisation domain) the subject belongs to.
    pub organization: String,
    /// The subject's public key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`) of the chain's
    /// suite.
    pub subject_public_key_pem: String,
    /// Validity window; must end no later than the operating CA's own certificate.
    pub validity: Validity,
    /// DNS names for the subjectAltName (nodes only). A node needs at least one DNS name or IP
    /// address, because TLS peers match names against the SAN, never against the CN.
    pub dns_names: Vec<String>,
    /// IP addresses for the subjectAltName (nodes only).
    pub ip_addresses: Vec<IpAddr>,
}

impl IssueRequest {
    /// A node certificate request without SANs yet (add `dns_names` / `ip_addresses`).
    pub fn node(
        common_name: impl Into<String>,
        organization: impl Into<String>,
        subject_public_key_pem: impl Into<String>,
        validity: Validity,
    ) -> Self {
        Self {
            kind: CertKind::Node,
            common_name: common_name.into(),
            organization: organization.into(),
            subject_public_key_pem: subject_public_key_pem.into(),
            validity,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
        }
    }

    /// A user certificate request.
    pub fn user(
        common_name: impl Into<String>,
        organization: impl Into<String>,
        subject_public_key_pem: impl Into<String>,
        validity: Validity,
    ) -> Self {
        Self {
            kind: CertKind::User,
            ..Self::node(common_name, organization, subject_public_key_pem, validity)
        }
    }
}

/// Checks a CN / O value: non-empty, at most 64 characters, no control characters.
pub(crate) fn check_name_value(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::InvalidRequest(format!("{what} is empty")));
    }
    if value.chars().count() > MAX_NAME_LEN {
        return Err(Error::InvalidRequest(format!("{what} is longer than {MAX_NAME_LEN} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(format!("{what} contains control characters")));
    }
    Ok(())
}

/// Checks a DNS name for the SAN: LDH labels of 1..=63 characters, at most 253 in all.
pub(crate) fn check_dns_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidRequest(format!("DNS name `{name}`: {why}")));
    if name.is_empty() || name.len() > 253 {
        return bad("must be 1..=253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("labels must be 1..=63 characters");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return bad("only letters, digits and '-' are allowed (no wildcards)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label may not start or end with '-'");
        }
    }
    Ok(())
}

/// `O=organization, OU=kind, CN=common_name`, each a UTF8String in its own RDN.
pub(crate) fn subject_name(organization: &str, kind: CertKind, common_name: &str) -> Result<Name> {
    let mut rdns = Vec::with_capacity(3);
    for (oid, value) in [
        (ORGANIZATION_NAME, organization),
        (ORGANIZATIONAL_UNIT_NAME, kind.name()),
        (COMMON_NAME, common_name),
    ] {
        let utf8 = Utf8StringRef::new(value).map_err(encode_err)?;
        let atv = AttributeTypeAndValue { oid, value: Any::encode_from(&utf8).map_err(encode_err)? };
        let rdn = RelativeDistinguishedName::from(SetOfVec::try_from(vec![atv]).map_err(encode_err)?);
        rdns.push(rdn);
    }
    // x509-cert only builds a `Name` from an RDN sequence through its `hazmat` feature or by
    // decoding; decoding our own encoding keeps the default feature set.
    let der = RdnSequence::from(rdns).to_der().map_err(encode_err)?;
    Name::from_der(&der).map_err(encode_err)
}

/// The key identifier of a public key: the leftmost 160 bits of SHA-256 over the
/// subjectPublicKey bits (RFC 7093 §2, method 1).
pub(crate) fn key_identifier(spki: SubjectPublicKeyInfoRef<'_>) -> Vec<u8> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    digest[..20].to_vec()
}

/// Which certificate a [`Profile`] builds.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    Root,
    Operating,
    Leaf { kind: CertKind, sans: Vec<GeneralName> },
}

/// The x509-cert builder profile for every govchain certificate.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub(crate) subject: Name,
    /// `None` for the self-signed root.
    pub(crate) issuer: Option<Name>,
    /// The issuer's subjectKeyIdentifier, when its certificate carries one; otherwise it is
    /// computed from the issuer's key.
    pub(crate) issuer_key_id: Option<Vec<u8>>,
    pub(crate) role: Role,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts = Vec::with_capacity(6);
        let (bc, ku) = match &self.role {
            // Root -> operating CA -> leaf: the root allows one CA below it, the operating CA
            // none.
            Role::Root => (
                Some(BasicConstraints { ca: true, path_len_constraint: Some(1) }),
                KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            ),
            Role::Operating => (
                Some(BasicConstraints { ca: true, path_len_constraint: Some(0) }),
                KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            ),
            // EC keys sign (TLS CertificateVerify, transactions) and do ECDH; keyEncipherment
            // is for RSA key transport and is left out.
            Role::Leaf { kind: CertKind::Node, .. } => (
                Some(BasicConstraints { ca: false, path_len_constraint: None }),
                KeyUsages::DigitalSignature | KeyUsages::KeyAgreement,
            ),
            Role::Leaf { .. } => (
                Some(BasicConstraints { ca: false, path_len_constraint: None }),
                KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            ),
        };
        if let Some(bc) = bc {
            exts.push(extension(true, &bc)?);
        }
        exts.push(extension(true, &KeyUsage(ku))?);

        match &self.role {
            Role::Leaf { kind, sans } => {
                let eku = match kind {
                    CertKind::Node => vec![ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH],
                    _ => vec![ID_KP_CLIENT_AUTH],
                };
                exts.push(extension(false, &ExtendedKeyUsage(eku))?);
                if !sans.is_empty() {
                    exts.push(extension(false, &SubjectAltName(sans.clone()))?);
                }
            }
            Role::Root | Role::Operating => {}
        }

        let ski = OctetString::new(key_identifier(spk))?;
        exts.push(extension(false, &SubjectKeyIdentifier(ski))?);
        let aki = match &self.issuer_key_id {
            Some(id) => id.clone(),
            None => key_identifier(issuer_spk),
        };
        exts.push(extension(
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?);
        Ok(exts)
    }
}

/// Converts requested SANs into GeneralNames.
pub(crate) fn general_names(dns: &[String], ips: &[IpAddr]) -> Result<Vec<GeneralName>> {
    let mut out = Vec::with_capacity(dns.len() + ips.len());
    for name in dns {
        check_dns_name(name)?;
        out.push(GeneralName::DnsName(Ia5String::new(name).map_err(encode_err)?));
    }
    out.extend(ips.iter().copied().map(GeneralName::from));
    Ok(out)
}

fn extension<T: AssociatedOid + Encode>(critical: bool, value: &T) -> der::Result<Extension> {
    Ok(Extension { extn_id: T::OID, critical, extn_value: OctetString::new(value.to_der()?)? })
}

/// The OID set this profile understands; any other critical extension makes a certificate
/// unacceptable (RFC 5280 §4.2).
pub(crate) fn known_extension(oid: &ObjectIdentifier) -> bool {
    [
        BasicConstraints::OID,
        KeyUsage::OID,
        ExtendedKeyUsage::OID,
        SubjectAltName::OID,
        SubjectKeyIdentifier::OID,
        AuthorityKeyIdentifier::OID,
    ]
    .contains(oid)
}

fn encode_err(e: impl fmt::Display) -> Error {
    Error::Encode(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_rejects_empty_or_inverted_windows() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(Validity::new(t, t).is_err());
        assert!(Validity::new(t + Duration::from_secs(1), t).is_err());
        let v = Validity::new(t + Duration::from_millis(300), t + Duration::from_secs(2)).unwrap();
        assert_eq!(v.not_before(), t);
        let v = Validity::days_from_now(1).unwrap();
        assert!(v.not_before() < SystemTime::now());
        assert!(v.not_after() > SystemTime::now() + Duration::from_secs(86_000));
    }

    #[test]
    fn dns_name_rules() {
        for ok in ["node1", "node-1.gov.example", "a.b.c"] {
            check_dns_name(ok).unwrap();
        }
        for bad in ["", "*.gov", "-x", "x-", "a..b", "ü.example", "a b", &"a".repeat(64)] {
            assert!(check_dns_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn name_values_are_bounded() {
        check_name_value("CN", "节点一").unwrap();
        assert!(check_name_value("CN", "").is_err());
        assert!(check_name_value("CN", "  ").is_err());
        assert!(check_name_value("CN", "a\nb").is_err());
        assert!(check_name_value("CN", &"x".repeat(65)).is_err());
    }

    #[test]
    fn subject_name_keeps_special_characters_verbatim() {
        let name = subject_name("Dept, of \"Finance\"", CertKind::User, "alice+bob=1").unwrap();
        assert_eq!(String::from(name.organization().unwrap().unwrap()), "Dept, of \"Finance\"");
        assert_eq!(String::from(name.common_name().unwrap().unwrap()), "alice+bob=1");
        assert_eq!(String::from(name.organization_unit().unwrap().unwrap()), "user");
    }

    #[test]
    fn kinds_roundtrip_through_their_names() {
        for kind in [CertKind::Ca, CertKind::Node, CertKind::User] {
            assert_eq!(kind.name().parse::<CertKind>().unwrap(), kind);
        }
        assert!("admin".parse::<CertKind>().is_err());
    }
}
