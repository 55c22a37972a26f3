//! Just enough DER to find a certificate's SubjectPublicKeyInfo, for key
//! pinning. Every length is checked; malformed input gives `None`.

use sha2::{Digest, Sha256};

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
    let (tag, certificate, _) = tlv(certificate_der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    // [0] version (optional), serial, signature, issuer, validity, subject.
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2;
    }
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
