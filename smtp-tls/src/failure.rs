//! Typed TLS failures: what went wrong, with the `rustls::Error` kept as
//! the source.

use std::fmt;

use rustls::{AlertDescription, CertificateError, PeerIncompatible};
use smtpkit_proto::{TlsError, TlsErrorKind};

/// What kind of TLS failure, for a program to act on (the broad
/// [`TlsErrorKind`] on [`TlsError`] groups these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailureKind {
    /// The certificate chain does not lead to a trusted root (an unknown
    /// or untrusted CA, or a self-signed certificate).
    UnknownIssuer,
    /// The certificate is not valid for the server's name.
    NameMismatch,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// The certificate was revoked.
    Revoked,
    /// The server's key matches none of `TlsSettings::pins` (rustls'
    /// `ApplicationVerificationFailure`, which a verifier of your own may
    /// also report).
    PinMismatch,
    /// The server ended the handshake with this alert (other than
    /// `protocol_version`, which is [`ProtocolVersion`](Self::ProtocolVersion)).
    HandshakeAlert(AlertDescription),
    /// No TLS version both sides allow (`mail.smtp.ssl.protocols`, or the
    /// server's `protocol_version` alert).
    ProtocolVersion,
    /// The settings need something this build left out: the named Cargo
    /// feature of `smtpkit-tls` (`ring`, `platform-roots`, …).
    MissingFeature(&'static str),
    /// Anything else; the `rustls::Error` says what.
    Other,
}

impl TlsFailureKind {
    /// The kind of a rustls error.
    pub fn of(error: &rustls::Error) -> TlsFailureKind {
        use rustls::Error as E;
        match error {
            E::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsFailureKind::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFailureKind::NameMismatch,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsFailureKind::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsFailureKind::NotYetValid
                }
                CertificateError::Revoked => TlsFailureKind::Revoked,
                CertificateError::ApplicationVerificationFailure => TlsFailureKind::PinMismatch,
                _ => TlsFailureKind::Other,
            },
            E::AlertReceived(AlertDescription::ProtocolVersion)
            | E::PeerIncompatible(
                PeerIncompatible::ServerDoesNotSupportTls12Or13
                | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
                | PeerIncompatible::SupportedVersionsExtensionRequired
                | PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled,
            ) => TlsFailureKind::ProtocolVersion,
            E::AlertReceived(alert) => TlsFailureKind::HandshakeAlert(*alert),
            _ => TlsFailureKind::Other,
        }
    }
}

/// A TLS failure with its [`TlsFailureKind`]: the
/// [`source()`](std::error::Error::source) of the [`TlsError`]s this crate
/// makes, with the `rustls::Error` (when there is one) as its own source.
/// `Display` describes the kind and does not repeat the rustls text.
///
/// ```
/// # fn f(error: &smtpkit_proto::TlsError) {
/// use smtpkit_tls::{TlsFailure, TlsFailureKind};
/// match TlsFailure::of(error).map(TlsFailure::kind) {
///     Some(TlsFailureKind::UnknownIssuer) => eprintln!("add the CA with --ca"),
///     Some(TlsFailureKind::Expired) => eprintln!("the server's certificate has expired"),
///     _ => eprintln!("{error}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TlsFailure {
    kind: TlsFailureKind,
    source: Option<rustls::Error>,
}

impl TlsFailure {
    /// The failure a rustls error describes.
    pub fn from_rustls(error: rustls::Error) -> TlsFailure {
        TlsFailure {
            kind: TlsFailureKind::of(&error),
            source: Some(error),
        }
    }

    /// A feature of this crate that the settings need is off.
    pub fn missing_feature(feature: &'static str) -> TlsFailure {
        TlsFailure {
            kind: TlsFailureKind::MissingFeature(feature),
            source: None,
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> TlsFailureKind {
        self.kind
    }

    /// The rustls error, when rustls reported it.
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        self.source.as_ref()
    }

    /// The typed failure inside a [`TlsError`] made by this crate.
    pub fn of(error: &TlsError) -> Option<&TlsFailure> {
        error.source_ref()?.downcast_ref::<TlsFailure>()
    }

    /// The first typed failure in an error's chain: `error` itself or one
    /// of its sources (a `smtpkit_client::Error`, a `SessionError`, a
    /// [`TlsError`]).
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TlsFailure> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(failure) = e.downcast_ref::<TlsFailure>() {
                return Some(failure);
            }
            next = e.source();
        }
        None
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TlsFailureKind::UnknownIssuer => {
                f.write_str("the certificate's issuer is not trusted (unknown CA)")
            }
            TlsFailureKind::NameMismatch => {
                f.write_str("the certificate does not match the server name")
            }
            TlsFailureKind::Expired => f.write_str("the certificate has expired"),
            TlsFailureKind::NotYetValid => f.write_str("the certificate is not valid yet"),
            TlsFailureKind::Revoked => f.write_str("the certificate was revoked"),
            TlsFailureKind::PinMismatch => {
                f.write_str("the server's key does not match any pinned SHA-256")
            }
            TlsFailureKind::HandshakeAlert(alert) => {
                write!(f, "the server sent the alert {alert:?}")
            }
            TlsFailureKind::ProtocolVersion => {
                f.write_str("no TLS protocol version that both sides allow")
            }
            TlsFailureKind::MissingFeature(feature) => {
                write!(
                    f,
                    "not built in: enable the `{feature}` feature of smtpkit-tls"
                )
            }
            TlsFailureKind::Other => f.write_str(match &self.source {
                Some(rustls::Error::InvalidCertificate(_)) => "the certificate is not acceptable",
                Some(rustls::Error::PeerIncompatible(_)) => {
                    "no cipher suite or parameters in common with the server"
                }
                Some(
                    rustls::Error::InappropriateMessage { .. }
                    | rustls::Error::InappropriateHandshakeMessage { .. }
                    | rustls::Error::InvalidMessage(_)
                    | rustls::Error::PeerMisbehaved(_),
                ) => "the server sent invalid TLS",
                Some(rustls::Error::NoCertificatesPresented) => {
                    "the server presented no certificate"
                }
                _ => "the TLS library failed",
            }),
        }
    }
}

impl std::error::Error for TlsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Turns a rustls error into a [`TlsError`] of the right broad kind whose
/// source is the typed [`TlsFailure`] (whose source is the rustls error).
pub fn map_error(error: rustls::Error) -> TlsError {
    use rustls::Error as E;
    let broad = match &error {
        E::InvalidCertificate(_) | E::NoCertificatesPresented => TlsErrorKind::Certificate,
        E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::InvalidMessage(_)
        | E::PeerMisbehaved(_) => TlsErrorKind::Protocol,
        _ => TlsErrorKind::Handshake,
    };
    TlsError::from_source(broad, TlsFailure::from_rustls(error))
}

/// A [`TlsErrorKind::Config`] error about `what`, caused by a rustls error.
pub(crate) fn config_rustls(what: impl Into<String>, error: rustls::Error) -> TlsError {
    let mut e = TlsError::from_source(TlsErrorKind::Config, TlsFailure::from_rustls(error));
    e.message = what.into();
    e
}

/// A [`TlsErrorKind::Config`] error: `what` needs `feature`, which is off.
#[allow(dead_code)] // only without some feature
pub(crate) fn missing_feature(what: impl Into<String>, feature: &'static str) -> TlsError {
    let mut e = TlsError::from_source(TlsErrorKind::Config, TlsFailure::missing_feature(feature));
    e.message = what.into();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_rustls_errors() {
        let cert = |c| rustls::Error::InvalidCertificate(c);
        for (error, kind) in [
            (
                cert(CertificateError::UnknownIssuer),
                TlsFailureKind::UnknownIssuer,
            ),
            (
                cert(CertificateError::NotValidForName),
                TlsFailureKind::NameMismatch,
            ),
            (cert(CertificateError::Expired), TlsFailureKind::Expired),
            (
                cert(CertificateError::NotValidYet),
                TlsFailureKind::NotYetValid,
            ),
            (cert(CertificateError::BadEncoding), TlsFailureKind::Other),
            (
                rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
                TlsFailureKind::HandshakeAlert(AlertDescription::HandshakeFailure),
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
                TlsFailureKind::ProtocolVersion,
            ),
            (
                rustls::Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13),
                TlsFailureKind::ProtocolVersion,
            ),
        ] {
            let tls = map_error(error.clone());
            let broad = match kind {
                TlsFailureKind::HandshakeAlert(_) | TlsFailureKind::ProtocolVersion => {
                    TlsErrorKind::Handshake
                }
                _ => TlsErrorKind::Certificate,
            };
            assert_eq!(tls.kind, broad, "{error:?}");
            let failure = TlsFailure::of(&tls).map(TlsFailure::kind);
            assert_eq!(failure, Some(kind), "{error:?}");
            // Display says what failed; the rustls text is only the source.
            let source = std::error::Error::source(&tls).map(ToString::to_string);
            assert!(!tls.to_string().contains(&error.to_string()), "{tls}");
            let inner = std::error::Error::source(&tls).and_then(std::error::Error::source);
            assert_eq!(inner.map(ToString::to_string), Some(error.to_string()));
            assert!(!source.unwrap_or_default().contains(&error.to_string()));
            assert!(TlsFailure::find(&tls).is_some());
        }
    }
}
