//! Real rustls handshakes in memory, against an in-process rustls server
//! with rcgen certificates: each failure has its typed kind, with the
//! rustls error as the source and not repeated in the text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, RootCertStore, ServerConfig, ServerConnection};
use smtpkit_tls::{
    ChannelBindingType, RootSource, TlsError, TlsErrorKind, TlsFailure, TlsFailureKind, TlsLayer,
    TlsSettings, crypto_provider,
};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let id: String = key.public_key_raw()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("handshake test CA {id}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// A leaf for `name`, signed by `ca`, valid `validity` (years) or now.
fn leaf(ca: &Ca, name: &str, validity: Option<(i32, i32)>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    if let Some((from, to)) = validity {
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(to, 1, 1);
    }
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn server_config(
    (cert, key): &(String, String),
    versions: &[&'static rustls::SupportedProtocolVersion],
    client_ca: Option<&Ca>,
) -> Arc<ServerConfig> {
    let provider = Arc::new(crypto_provider().unwrap());
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
                .unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

fn trusting(ca: &Ca) -> TlsSettings {
    TlsSettings {
        roots: RootSource::None,
        extra_ca_pem: vec![ca.pem.clone().into_bytes()],
        ..TlsSettings::default()
    }
}

/// Runs the handshake in memory: the client's layer against a rustls
/// server, until it completes or the client fails.
fn handshake(
    settings: &TlsSettings,
    server: Arc<ServerConfig>,
    name: &str,
) -> Result<(), TlsError> {
    established(settings, server, name).map(drop)
}

/// As [`handshake`], returning both ends.
fn established(
    settings: &TlsSettings,
    server: Arc<ServerConfig>,
    name: &str,
) -> Result<(Box<dyn TlsLayer>, ServerConnection), TlsError> {
    let mut client = settings.connector()?.connect(name)?;
    let mut server = ServerConnection::new(server).unwrap();
    for _ in 0..20 {
        let mut out = Vec::new();
        client.write_tls(&mut out);
        let mut input = &out[..];
        while !input.is_empty() {
            if server.read_tls(&mut input).unwrap() == 0 {
                break;
            }
            // A server that fails queues its alert, which the client reads.
            if server.process_new_packets().is_err() {
                break;
            }
        }
        let mut back = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut back).unwrap();
        }
        let mut input = &back[..];
        while !input.is_empty() {
            let taken = client.read_tls(input)?;
            input = &input[taken..];
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            // TLS 1.3: the server's verdict on a client certificate comes
            // after the client has finished; one more round reads it.
            let mut plain = Vec::new();
            client.read_plaintext(&mut plain)?;
            return Ok((client, server));
        }
    }
    panic!("the handshake did not finish");
}

fn failure(result: Result<(), TlsError>) -> (TlsErrorKind, TlsFailureKind, TlsError) {
    let error = result.expect_err("the handshake must fail");
    let failure = TlsFailure::of(&error)
        .unwrap_or_else(|| panic!("no typed failure: {error:?}"))
        .kind();
    (error.kind, failure, error)
}

/// The rustls error is the source of the typed failure, and neither
/// `Display` above it repeats its text.
fn check_chain(error: &TlsError) {
    let failure = TlsFailure::of(error).unwrap();
    let rustls = failure.rustls_error().expect("a rustls error");
    let source = std::error::Error::source(failure).expect("a source");
    assert_eq!(source.to_string(), rustls.to_string());
    assert!(!error.to_string().contains(&rustls.to_string()), "{error}");
    assert!(
        !failure.to_string().contains(&rustls.to_string()),
        "{failure}"
    );
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[test]
fn a_trusted_certificate_completes() {
    let ca = ca();
    let server = server_config(&leaf(&ca, "mx.example", None), BOTH, None);
    handshake(&trusting(&ca), server, "mx.example").unwrap();
}

/// The channel binding each end computes for itself agrees: on TLS 1.3
/// the exporter (RFC 9266) equals the server's own export with the same
/// label; on TLS 1.2 the certificate hash (RFC 5929) equals the SHA-256 of
/// the certificate the server presents (rcgen signs with ECDSA-SHA256).
#[test]
fn channel_binding_matches_the_servers_end() {
    use sha2::Digest as _;
    let ca = ca();
    let leaf = leaf(&ca, "mx.example", None);
    let tls13 = server_config(&leaf, &[&rustls::version::TLS13], None);
    let (client, server) = established(&trusting(&ca), tls13, "mx.example").unwrap();
    let binding = client.channel_binding().expect("a TLS 1.3 binding");
    assert_eq!(binding.kind(), ChannelBindingType::TlsExporter);
    let expected = server
        .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", Some(&[]))
        .unwrap();
    assert_eq!(binding.data(), expected);
    // A second connection has other keys, so another binding.
    let tls13 = server_config(&leaf, &[&rustls::version::TLS13], None);
    let (again, _) = established(&trusting(&ca), tls13, "mx.example").unwrap();
    assert_ne!(again.channel_binding().unwrap().data(), binding.data());

    let tls12 = server_config(&leaf, &[&rustls::version::TLS12], None);
    let (client, _) = established(&trusting(&ca), tls12, "mx.example").unwrap();
    let binding = client.channel_binding().expect("a TLS 1.2 binding");
    assert_eq!(binding.kind(), ChannelBindingType::TlsServerEndPoint);
    let der = CertificateDer::from_pem_slice(leaf.0.as_bytes()).unwrap();
    assert_eq!(
        binding.data(),
        sha2::Sha256::digest(der.as_ref()).as_slice()
    );
    // Debug shows no octets.
    assert_eq!(
        format!("{binding:?}"),
        "ChannelBinding { kind: TlsServerEndPoint, len: 32 }"
    );
}

/// `TlsInfo`'s `Debug` shows each certificate's subject and fingerprint,
/// not hundreds of DER numbers.
#[test]
fn tls_info_debug_shows_subjects_and_fingerprints() {
    use sha2::Digest as _;
    let ca = ca();
    let leaf = leaf(&ca, "mx.example", None);
    let server = server_config(&leaf, BOTH, None);
    let (client, _) = established(&trusting(&ca), server, "mx.example").unwrap();
    let info = client.info();
    let der = CertificateDer::from_pem_slice(leaf.0.as_bytes()).unwrap();
    let summary = &info.peer_summaries[0];
    assert_eq!(
        summary.sha256.as_slice(),
        sha2::Sha256::digest(der.as_ref()).as_slice()
    );
    assert_eq!(summary.subject, "CN=rcgen self signed cert");
    assert_eq!(summary.fingerprint().len(), 95);
    let debug = format!("{info:?}");
    assert!(
        debug.contains("CN=rcgen self signed cert (SHA-256 "),
        "{debug}"
    );
    assert!(debug.contains(&summary.fingerprint()), "{debug}");
    assert!(debug.len() < 400, "{debug}");
}

#[test]
fn untrusted_ca_is_unknown_issuer() {
    let (ca, other) = (ca(), ca());
    let server = server_config(&leaf(&ca, "mx.example", None), BOTH, None);
    let (kind, failure, error) = failure(handshake(&trusting(&other), server, "mx.example"));
    assert_eq!(
        (kind, failure),
        (TlsErrorKind::Certificate, TlsFailureKind::UnknownIssuer)
    );
    assert_eq!(error.to_string(), "TLS certificate error");
    check_chain(&error);
}

#[test]
fn wrong_host_name_is_name_mismatch() {
    let ca = ca();
    let server = server_config(&leaf(&ca, "mx.example", None), BOTH, None);
    let (kind, failure, error) = failure(handshake(&trusting(&ca), server, "other.example"));
    assert_eq!(
        (kind, failure),
        (TlsErrorKind::Certificate, TlsFailureKind::NameMismatch)
    );
    check_chain(&error);
}

#[test]
fn expired_and_not_yet_valid() {
    let ca = ca();
    for (validity, expected) in [
        ((2000, 2001), TlsFailureKind::Expired),
        ((2999, 3000), TlsFailureKind::NotYetValid),
    ] {
        let server = server_config(&leaf(&ca, "mx.example", Some(validity)), BOTH, None);
        let (kind, failure, error) = failure(handshake(&trusting(&ca), server, "mx.example"));
        assert_eq!((kind, failure), (TlsErrorKind::Certificate, expected));
        check_chain(&error);
    }
}

#[test]
fn no_common_version_is_protocol_version() {
    let ca = ca();
    let server = server_config(
        &leaf(&ca, "mx.example", None),
        &[&rustls::version::TLS12],
        None,
    );
    let mut settings = trusting(&ca);
    settings.protocols = vec!["TLSv1.3".into()];
    let (kind, failure, error) = failure(handshake(&settings, server, "mx.example"));
    assert_eq!(
        (kind, failure),
        (TlsErrorKind::Handshake, TlsFailureKind::ProtocolVersion)
    );
    check_chain(&error);
}

#[test]
fn a_server_alert_is_handshake_alert() {
    // The server wants a client certificate; we have none (TLS 1.2: the
    // server refuses in the handshake).
    let ca = ca();
    let server = server_config(
        &leaf(&ca, "mx.example", None),
        &[&rustls::version::TLS12],
        Some(&ca),
    );
    let (kind, failure, error) = failure(handshake(&trusting(&ca), server, "mx.example"));
    assert_eq!(kind, TlsErrorKind::Handshake);
    assert!(
        matches!(failure, TlsFailureKind::HandshakeAlert(a) if a != AlertDescription::ProtocolVersion),
        "{failure:?}"
    );
    check_chain(&error);
}

#[test]
fn roots_left_out_of_the_build_are_a_typed_configuration_error() {
    for (roots, feature) in [
        (RootSource::Platform, "platform-roots"),
        (RootSource::Bundled, "bundled-roots"),
    ] {
        let settings = TlsSettings {
            roots,
            ..TlsSettings::default()
        };
        match settings.client_config() {
            Ok(_) => assert!(roots.is_built_in()),
            Err(e) if !roots.is_built_in() => {
                assert_eq!(e.kind, TlsErrorKind::Config);
                let failure = TlsFailure::of(&e).map(TlsFailure::kind);
                assert_eq!(failure, Some(TlsFailureKind::MissingFeature(feature)));
                let text = format!("{e}: {}", TlsFailure::of(&e).unwrap());
                assert!(text.contains(feature), "{text}");
            }
            // The platform may have no store at all (a bare container).
            Err(e) => assert!(roots == RootSource::Platform, "{e}"),
        }
    }
}

/// msmtp's `tls_fingerprint`: a pinned certificate is trusted whatever
/// its issuer and name; any other certificate is refused, even one whose
/// chain verifies.
#[test]
fn a_certificate_pin_is_the_trust_anchor() {
    use sha2::Digest;
    let (ca, other) = (ca(), ca());
    let pair = leaf(&ca, "mx.example", None);
    let der = CertificateDer::from_pem_slice(pair.0.as_bytes()).unwrap();
    let fingerprint: [u8; 32] = sha2::Sha256::digest(der.as_ref()).into();
    let pinned = TlsSettings {
        roots: RootSource::None,
        certificate_pins: vec![fingerprint],
        ..TlsSettings::default()
    };
    // No CA trusted, and another name: the pin alone decides.
    handshake(&pinned, server_config(&pair, BOTH, None), "other.example").unwrap();
    // A certificate from a trusted CA that is not the pinned one.
    let mut wrong = trusting(&other);
    wrong.certificate_pins = vec![[0u8; 32]];
    let server = server_config(&leaf(&other, "mx.example", None), BOTH, None);
    let (kind, _, _) = failure(handshake(&wrong, server, "mx.example"));
    assert_eq!(kind, TlsErrorKind::Certificate);
}
