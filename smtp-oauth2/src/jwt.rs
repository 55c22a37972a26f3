//! Signed JWTs (RFC 7519) for the assertions of RFC 7523: a client's
//! `private_key_jwt` authentication and a service account's grant. Signed
//! with ring, never the `rsa` crate (RUSTSEC-2023-0071).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Map, Value};

use crate::{Secret, TokenError};

/// The signature algorithm of a [`SigningKey`], from its key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: what Google's service accounts and
    /// Microsoft's certificate credentials use.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl JwtAlgorithm {
    /// The JOSE name (`RS256`, `ES256`).
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Es256 => "ES256",
        }
    }
}

enum KeyPair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A private key that signs assertions. `Debug` shows the algorithm and
/// the key id, never the key.
pub struct SigningKey {
    pair: KeyPair,
    key_id: Option<String>,
    thumbprints: Option<(String, String)>,
}

impl SigningKey {
    /// Reads a PEM private key: RSA (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`, 2048 bits or more) or ECDSA P-256 (PKCS#8).
    ///
    /// # Errors
    /// [`TokenError::Config`] naming what is wrong; never the key.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, TokenError> {
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
            TokenError::Config(format!("the signing key is not a PEM private key ({e})"))
        })?;
        let pair = match &key {
            PrivateKeyDer::Pkcs8(der) => match RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()) {
                Ok(rsa) => KeyPair::Rsa(rsa),
                Err(rsa_error) => EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    der.secret_pkcs8_der(),
                    &SystemRandom::new(),
                )
                .map(KeyPair::Ecdsa)
                .map_err(|_| {
                    TokenError::Config(format!(
                        "the PKCS#8 signing key is neither a usable RSA key ({rsa_error}) nor an ECDSA P-256 key"
                    ))
                })?,
            },
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map(KeyPair::Rsa)
                .map_err(|e| TokenError::Config(format!("the RSA signing key: {e}")))?,
            _ => {
                return Err(TokenError::Config(
                    "the signing key must be RSA (PKCS#8 or PKCS#1) or ECDSA P-256 in PKCS#8 \
                     (convert with `openssl pkcs8 -topk8 -nocrypt`)"
                        .into(),
                ));
            }
        };
        Ok(SigningKey {
            pair,
            key_id: None,
            thumbprints: None,
        })
    }

    /// The key id the server registered the key under (the JWT header's
    /// `kid`; Google's `private_key_id`).
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> SigningKey {
        self.key_id = Some(key_id.into());
        self
    }

    /// The certificate of the key (Microsoft's certificate credentials):
    /// its SHA-1 and SHA-256 thumbprints go in the header as `x5t` and
    /// `x5t#S256`, by which Microsoft Entra finds the key.
    ///
    /// # Errors
    /// [`TokenError::Config`] when it is not a PEM certificate.
    pub fn with_certificate(mut self, certificate_pem: &[u8]) -> Result<SigningKey, TokenError> {
        let der = CertificateDer::from_pem_slice(certificate_pem).map_err(|e| {
            TokenError::Config(format!(
                "the key's certificate is not a PEM certificate ({e})"
            ))
        })?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        let sha256 = ring::digest::digest(&ring::digest::SHA256, &der);
        self.thumbprints = Some((URL_SAFE_NO_PAD.encode(sha1), URL_SAFE_NO_PAD.encode(sha256)));
        Ok(self)
    }

    /// The algorithm its signatures use.
    pub fn algorithm(&self) -> JwtAlgorithm {
        match self.pair {
            KeyPair::Rsa(_) => JwtAlgorithm::Rs256,
            KeyPair::Ecdsa(_) => JwtAlgorithm::Es256,
        }
    }

    /// A compact JWS of `claims`: `header.payload.signature`, base64url.
    pub(crate) fn sign(&self, claims: &Map<String, Value>) -> Result<Secret, TokenError> {
        let mut header = Map::new();
        header.insert("alg".into(), self.algorithm().name().into());
        header.insert("typ".into(), "JWT".into());
        if let Some(kid) = &self.key_id {
            header.insert("kid".into(), kid.clone().into());
        }
        if let Some((sha1, sha256)) = &self.thumbprints {
            header.insert("x5t".into(), sha1.clone().into());
            header.insert("x5t#S256".into(), sha256.clone().into());
        }
        let encode = |map: &Map<String, Value>| {
            URL_SAFE_NO_PAD.encode(Value::Object(map.clone()).to_string())
        };
        let signing_input = format!("{}.{}", encode(&header), encode(claims));
        let rng = SystemRandom::new();
        let signature = match &self.pair {
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &rng,
                    signing_input.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| TokenError::Config("the RSA key could not sign".into()))?;
                signature
            }
            KeyPair::Ecdsa(pair) => pair
                .sign(&rng, signing_input.as_bytes())
                .map_err(|_| TokenError::Config("the ECDSA key could not sign".into()))?
                .as_ref()
                .to_vec(),
        };
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair as _, UnparsedPublicKey};

    const RSA_PKCS8: &[u8] = include_bytes!("../tests/data/rsa-2048.pem");
    const EC_PKCS8: &[u8] = include_bytes!("../tests/data/ec-p256.pem");

    fn parts(jwt: &str) -> (Value, Value, Vec<u8>, String) {
        let mut it = jwt.split('.');
        let (h, c, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        assert!(it.next().is_none());
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).unwrap();
        (
            serde_json::from_slice(&decode(h)).unwrap(),
            serde_json::from_slice(&decode(c)).unwrap(),
            decode(s),
            format!("{h}.{c}"),
        )
    }

    #[test]
    fn rs256_and_es256_signatures_verify_with_the_public_key() {
        let mut claims = Map::new();
        claims.insert("iss".into(), "sender@example.iam.invalid".into());
        for (pem, alg) in [(RSA_PKCS8, "RS256"), (EC_PKCS8, "ES256")] {
            let key = SigningKey::from_pem(pem).unwrap().with_key_id("k1");
            let jwt = key.sign(&claims).unwrap();
            let (header, body, signature, input) = parts(jwt.expose());
            assert_eq!(header["alg"], alg);
            assert_eq!(header["kid"], "k1");
            assert_eq!(body["iss"], "sender@example.iam.invalid");
            let ok = match &key.pair {
                KeyPair::Rsa(pair) => UnparsedPublicKey::new(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    pair.public_key().as_ref(),
                )
                .verify(input.as_bytes(), &signature),
                KeyPair::Ecdsa(pair) => UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    pair.public_key().as_ref(),
                )
                .verify(input.as_bytes(), &signature),
            };
            assert!(ok.is_ok(), "{alg} signature does not verify");
            assert!(!format!("{key:?}").contains("BEGIN"));
        }
    }

    #[test]
    fn unusable_keys_are_named_not_shown() {
        let e =
            SigningKey::from_pem(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
                .unwrap_err();
        assert!(matches!(e, TokenError::Config(_)), "{e}");
        let e = SigningKey::from_pem(b"not a key").unwrap_err();
        assert!(e.to_string().contains("not a PEM private key"), "{e}");
    }
}
