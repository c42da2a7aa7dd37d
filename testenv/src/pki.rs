//! The control plane's certificates: one CA, the apiserver's serving
//! certificate, an admin client certificate (`O=system:masters`) and the
//! service-account signing key. All ECDSA P-256, generated per environment.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::{Error, Result};

/// PEM files of one environment.
#[derive(Debug)]
pub(crate) struct Pki {
    pub ca_cert: String,
    pub serving_cert: String,
    pub serving_key: String,
    pub admin_cert: String,
    pub admin_key: String,
    pub sa_public: String,
    pub sa_private: String,
}

fn cert_err(e: rcgen::Error) -> Error {
    Error::Pki(e.to_string())
}

/// Generates the certificates; `ips` and `dns` become the serving cert's SANs.
pub(crate) fn generate(ips: &[IpAddr], dns: &[String]) -> Result<Pki> {
    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name.push(DnType::CommonName, "govchain-testenv-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().map_err(cert_err)?;
    let mut serving = CertificateParams::default();
    serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    serving.subject_alt_names = ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
    for name in dns {
        serving.subject_alt_names.push(SanType::DnsName(name.clone().try_into().map_err(cert_err)?));
    }
    serving.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&serving_key, &issuer).map_err(cert_err)?;

    let admin_key = KeyPair::generate().map_err(cert_err)?;
    let mut admin = CertificateParams::default();
    admin.distinguished_name.push(DnType::CommonName, "govchain-testenv-admin");
    admin.distinguished_name.push(DnType::OrganizationName, "system:masters");
    admin.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin.signed_by(&admin_key, &issuer).map_err(cert_err)?;

    let sa_key = KeyPair::generate().map_err(cert_err)?;

    Ok(Pki {
        ca_cert: ca_cert.pem(),
        serving_cert: serving_cert.pem(),
        serving_key: serving_key.serialize_pem(),
        admin_cert: admin_cert.pem(),
        admin_key: admin_key.serialize_pem(),
        sa_public: sa_key.public_key_pem(),
        sa_private: sa_key.serialize_pem(),
    })
}
