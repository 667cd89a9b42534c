//! Certificate mode (API-NOTES §2): a CA of the fake's own, generated at
//! start, signs a server certificate for 127.0.0.1 and localhost and one
//! client certificate; the server requires a client certificate that CA
//! signed, so a client without one fails the handshake. rustls on the
//! aws-lc-rs provider.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// What a client needs: the CA to trust and the client identity (PEM).
#[derive(Clone)]
pub(crate) struct ClientPki {
    pub(crate) ca_pem: String,
    pub(crate) client_cert_pem: String,
    pub(crate) client_key_pem: String,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("fake TPGateway TLS setup: {e}"))
}

/// A fresh CA, server and client certificates, and the server's TLS
/// configuration.
pub(crate) fn generate() -> io::Result<(TlsAcceptor, ClientPki)> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Fake TPGateway CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(other)?)
        .map_err(other)?;

    let server_key = KeyPair::generate().map_err(other)?;
    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(other)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server_params.use_authority_key_identifier_extension = true;
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &ca).map_err(other)?;

    let client_key = KeyPair::generate().map_err(other)?;
    let mut client_params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "TMS fake TPGateway client");
    client_params.use_authority_key_identifier_extension = true;
    client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca).map_err(other)?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).map_err(other)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(other)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(other)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert.der().clone(), ca.der().clone()], key)
        .map_err(other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok((
        TlsAcceptor::from(Arc::new(config)),
        ClientPki {
            ca_pem: ca.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        },
    ))
}
