//! Just enough DER to find a certificate's SubjectPublicKeyInfo, for key
//! pinning, and its signature algorithm, for the `tls-server-end-point`
//! channel binding. Every length is checked; malformed input gives `None`.

use sha2::{Digest, Sha256, Sha384, Sha512};

/// Reads one TLV at the start of `input`: (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The SHA-256 of the DER SubjectPublicKeyInfo of an X.509 certificate,
/// the value `openssl x509 -pubkey | openssl pkey -pubin -outform der |
/// sha256sum` prints.
pub fn spki_sha256(certificate_der: &[u8]) -> Option<[u8; 32]> {
    const SEQUENCE: u8 = 0x30;
    // serial, signature, issuer, validity, subject; then the key.
    let mut tbs = tbs_fields(certificate_der)?;
    for _ in 0..5 {
        tbs = tlv(tbs)?.2;
    }
    let before = tbs;
    let (tag, _, after) = tlv(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let spki = &before[..before.len() - after.len()];
    Some(Sha256::digest(spki).into())
}

/// A certificate's subject and SHA-256 fingerprint, for people
/// ([`TlsInfo`](crate::TlsInfo)'s `Debug`, `smtp-send probe`). A subject
/// that does not parse reads `(unreadable subject)`.
pub fn summarize(certificate_der: &[u8]) -> crate::CertificateSummary {
    crate::CertificateSummary::new(
        subject(certificate_der).unwrap_or_else(|| "(unreadable subject)".to_owned()),
        Sha256::digest(certificate_der).into(),
    )
}

/// The TBSCertificate's fields after the optional `[0]` version: serial,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, ….
fn tbs_fields(certificate_der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let (tag, certificate, _) = tlv(certificate_der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    if tbs.first() == Some(&0xa0) {
        return Some(tlv(tbs)?.2);
    }
    Some(tbs)
}

/// The subject Name's attributes with a short name (CN, O, OU, L, ST, C,
/// emailAddress) as `CN=…, O=…`, in the certificate's order.
fn subject(certificate_der: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    let mut tbs = tbs_fields(certificate_der)?;
    // serial, signature, issuer, validity; then the subject.
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (tag, mut name, _) = tlv(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (_, mut set, rest) = tlv(name)?;
        name = rest;
        while !set.is_empty() {
            let (_, attribute, rest) = tlv(set)?;
            set = rest;
            let (_, oid, value) = tlv(attribute)?;
            let (value_tag, value, _) = tlv(value)?;
            let short = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0A] => "O",
                [0x55, 0x04, 0x0B] => "OU",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x06] => "C",
                [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01] => "emailAddress",
                _ => continue,
            };
            // UTF8String, PrintableString, IA5String, T61String: text.
            if matches!(value_tag, 0x0C | 0x13 | 0x16 | 0x14) {
                parts.push(format!("{short}={}", String::from_utf8_lossy(value)));
            }
        }
    }
    Some(parts.join(", "))
}

/// The hash RFC 5929 §4.1 picks for a certificate signed with `algorithm`
/// (the DER contents of its AlgorithmIdentifier): the signature's own
/// hash, but SHA-256 for MD5 and SHA-1. `None` when the algorithm has no
/// single hash (Ed25519, Ed448) or is unknown: no binding is defined then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndPointHash {
    Sha256,
    Sha384,
    Sha512,
}

const RSA_PKCS1_PREFIX: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01];
const ECDSA_SHA1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01];
const ECDSA_SHA2_PREFIX: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03];
const NIST_HASH_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];

fn end_point_hash(algorithm: &[u8]) -> Option<EndPointHash> {
    const OID: u8 = 0x06;
    let (tag, oid, parameters) = tlv(algorithm)?;
    if tag != OID {
        return None;
    }
    if let Some(last) = oid.strip_prefix(RSA_PKCS1_PREFIX) {
        return match last {
            // md5WithRSA, sha1WithRSA, sha256WithRSA (RFC 5929: MD5 and
            // SHA-1 become SHA-256), sha224WithRSA is not in use.
            [4 | 5 | 11] => Some(EndPointHash::Sha256),
            [12] => Some(EndPointHash::Sha384),
            [13] => Some(EndPointHash::Sha512),
            // RSASSA-PSS: the hash is in the parameters.
            [10] => pss_hash(parameters),
            _ => None,
        };
    }
    if oid == ECDSA_SHA1 {
        return Some(EndPointHash::Sha256);
    }
    match oid.strip_prefix(ECDSA_SHA2_PREFIX)? {
        [2] => Some(EndPointHash::Sha256),
        [3] => Some(EndPointHash::Sha384),
        [4] => Some(EndPointHash::Sha512),
        _ => None,
    }
}

/// RSASSA-PSS-params (RFC 4055): `[0] hashAlgorithm DEFAULT sha1`.
fn pss_hash(parameters: &[u8]) -> Option<EndPointHash> {
    const SEQUENCE: u8 = 0x30;
    let (tag, params, _) = tlv(parameters)?;
    if tag != SEQUENCE {
        return None;
    }
    if params.first() != Some(&0xa0) {
        return Some(EndPointHash::Sha256); // SHA-1 by default
    }
    let (_, explicit, _) = tlv(params)?;
    let (tag, hash_algorithm, _) = tlv(explicit)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, oid, _) = tlv(hash_algorithm)?;
    match oid.strip_prefix(NIST_HASH_PREFIX)? {
        [1] => Some(EndPointHash::Sha256),
        [2] => Some(EndPointHash::Sha384),
        [3] => Some(EndPointHash::Sha512),
        _ => None,
    }
}

/// The `tls-server-end-point` channel-binding data of a server
/// certificate (RFC 5929 §4.1): the certificate's DER hashed with the
/// hash of its signature algorithm (SHA-256 for MD5 and SHA-1). For an
/// ECDSA-SHA256 or RSA-SHA256 certificate this is what
/// `openssl x509 -outform der | openssl dgst -sha256` prints. `None` when
/// the signature algorithm has no single hash (Ed25519) or the DER does
/// not parse.
pub fn tls_server_end_point(certificate_der: &[u8]) -> Option<Vec<u8>> {
    const SEQUENCE: u8 = 0x30;
    let (tag, certificate, _) = tlv(certificate_der)?;
    if tag != SEQUENCE {
        return None;
    }
    // tbsCertificate, then signatureAlgorithm.
    let (_, _, rest) = tlv(certificate)?;
    let (tag, algorithm, _) = tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    Some(match end_point_hash(algorithm)? {
        EndPointHash::Sha256 => Sha256::digest(certificate_der).to_vec(),
        EndPointHash::Sha384 => Sha384::digest(certificate_der).to_vec(),
        EndPointHash::Sha512 => Sha512::digest(certificate_der).to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of `SEQUENCE { SEQUENCE {} (tbs), AlgorithmIdentifier, BIT STRING }`.
    fn certificate(algorithm: &[u8]) -> Vec<u8> {
        let mut body = vec![0x30, 0x00];
        body.push(0x30);
        body.push(u8::try_from(algorithm.len()).unwrap());
        body.extend_from_slice(algorithm);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut der = vec![0x30, u8::try_from(body.len()).unwrap()];
        der.extend_from_slice(&body);
        der
    }

    fn oid(content: &[u8]) -> Vec<u8> {
        let mut der = vec![0x06, u8::try_from(content.len()).unwrap()];
        der.extend_from_slice(content);
        der
    }

    fn with(prefix: &[u8], last: u8) -> Vec<u8> {
        let mut content = prefix.to_vec();
        content.push(last);
        oid(&content)
    }

    #[test]
    fn end_point_hash_follows_the_signature_algorithm() {
        let len =
            |algorithm: Vec<u8>| tls_server_end_point(&certificate(&algorithm)).map(|h| h.len());
        // MD5, SHA-1 and SHA-256 with RSA: SHA-256; SHA-384, SHA-512.
        for (last, expected) in [(4, 32), (5, 32), (11, 32), (12, 48), (13, 64)] {
            assert_eq!(len(with(RSA_PKCS1_PREFIX, last)), Some(expected), "{last}");
        }
        assert_eq!(len(oid(ECDSA_SHA1)), Some(32));
        for (last, expected) in [(2, 32), (3, 48), (4, 64)] {
            assert_eq!(len(with(ECDSA_SHA2_PREFIX, last)), Some(expected));
        }
        // The hash is of the whole certificate.
        let der = certificate(&with(ECDSA_SHA2_PREFIX, 2));
        assert_eq!(
            tls_server_end_point(&der).unwrap(),
            Sha256::digest(&der).to_vec()
        );
        // RSASSA-PSS: the parameters' hash, SHA-1 (so SHA-256) by default.
        let mut pss = with(RSA_PKCS1_PREFIX, 10);
        let sha384 = with(NIST_HASH_PREFIX, 2);
        let mut hash_algorithm = vec![0x30, u8::try_from(sha384.len()).unwrap()];
        hash_algorithm.extend_from_slice(&sha384);
        let mut explicit = vec![0xa0, u8::try_from(hash_algorithm.len()).unwrap()];
        explicit.extend_from_slice(&hash_algorithm);
        let mut params = vec![0x30, u8::try_from(explicit.len()).unwrap()];
        params.extend_from_slice(&explicit);
        let mut default_params = pss.clone();
        default_params.extend_from_slice(&[0x30, 0x00]);
        pss.extend_from_slice(&params);
        assert_eq!(len(pss), Some(48));
        assert_eq!(len(default_params), Some(32));
        // Ed25519 (1.3.101.112) has no single hash: no binding.
        assert_eq!(len(oid(&[0x2B, 0x65, 0x70])), None);
        // Malformed input: no binding, no panic.
        assert_eq!(tls_server_end_point(&[]), None);
        assert_eq!(tls_server_end_point(&[0x30, 0x05, 0x30]), None);
        let der = certificate(&with(ECDSA_SHA2_PREFIX, 2));
        for cut in 0..der.len() {
            let _ = tls_server_end_point(&der[..cut]);
        }
    }
}
