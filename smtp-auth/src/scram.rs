//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), client side, with
//! channel binding (SCRAM-SHA-1-PLUS, SCRAM-SHA-256-PLUS; GS2 flag
//! `p=tls-exporter` per RFC 9266 or `p=tls-server-end-point` per RFC 5929)
//! or without (GS2 flag `n`, or `y` when the client could bind but the
//! server offered no -PLUS mechanism: a server that can bind then knows its
//! list was stripped on the way, RFC 5802 §6).
//!
//! The exchange, as SMTP carries it (RFC 4954 §4):
//!
//! 1. `AUTH SCRAM-SHA-256 <client-first>` ([`Mechanism::initial_response`]);
//! 2. `334 <server-first>` → `<client-final>` ([`Mechanism::respond`]);
//! 3. `334 <server-final>` → empty line ([`Mechanism::respond`] verifies the
//!    server signature `v=` first);
//! 4. `235` ([`Mechanism::finish`]).
//!
//! SMTP has no "additional data with success": a server that skips step 3
//! and answers `235` right away never proved that it knows the password
//! (RFC 5802 §7: the client MUST verify the server signature), so
//! [`Mechanism::finish`] fails with [`SaslError::ServerVerification`] unless
//! the signature was verified.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::{ChannelBinding, Credentials, Mechanism, SaslError, Secret};

/// The longest challenge accepted, in octets. Real server-first messages
/// are around 100 octets; anything this large is hostile or broken.
const MAX_CHALLENGE: usize = 4096;

/// The largest iteration count accepted. The count is chosen by the server
/// and the client pays for it (two hash compressions per iteration), so a
/// hostile server could otherwise pin a CPU for hours with `i=4294967295`.
/// 10,000,000 (a few seconds of PBKDF2 on current hardware) is far above
/// every deployed default (4096 in Dovecot, Cyrus and PostgreSQL; 15,000 in
/// MongoDB) and above OWASP's 2023 advice for PBKDF2-HMAC-SHA256 (600,000).
const MAX_ITERATIONS: u32 = 10_000_000;

/// The hash function behind a SCRAM variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn mechanism(self, plus: bool) -> &'static str {
        match (self, plus) {
            (Hash::Sha1, false) => "SCRAM-SHA-1",
            (Hash::Sha256, false) => "SCRAM-SHA-256",
            (Hash::Sha1, true) => "SCRAM-SHA-1-PLUS",
            (Hash::Sha256, true) => "SCRAM-SHA-256-PLUS",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
        }
    }

    /// `HMAC(key, data)`.
    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
            let mut mac = <M as KeyInit>::new_from_slice(key)
                .map_err(|e| SaslError::Credentials(e.to_string()))?;
            mac.update(data);
            Ok(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
        }
        match self {
            Hash::Sha1 => run::<Hmac<Sha1>>(key, data),
            Hash::Sha256 => run::<Hmac<Sha256>>(key, data),
        }
    }

    /// Whether `HMAC(key, data) == tag`, compared in constant time.
    fn verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.verify_slice(tag).is_ok()
                }
                Err(_) => false,
            }
        }
        match self {
            Hash::Sha1 => run::<Hmac<Sha1>>(key, data, tag),
            Hash::Sha256 => run::<Hmac<Sha256>>(key, data, tag),
        }
    }

    /// `H(data)`.
    fn hash(self, data: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
        })
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this HMAC, one block.
    fn hi(
        self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<Zeroizing<Vec<u8>>, SaslError> {
        let mut out = Zeroizing::new(vec![0u8; self.output_len()]);
        match self {
            Hash::Sha1 => pbkdf2::pbkdf2::<Hmac<Sha1>>(password, salt, iterations, &mut out),
            Hash::Sha256 => pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, iterations, &mut out),
        }
        .map_err(|e| SaslError::Credentials(e.to_string()))?;
        Ok(out)
    }
}

/// Where the exchange stands.
enum State {
    /// Nothing sent yet.
    Initial,
    /// client-first sent; waiting for server-first.
    ClientFirstSent {
        nonce: String,
        gs2_header: String,
        client_first_bare: String,
    },
    /// client-final sent; waiting for server-final. The server signature is
    /// `HMAC(server_key, auth_message)`, checked when `v=` arrives.
    ClientFinalSent {
        server_key: Zeroizing<Vec<u8>>,
        auth_message: String,
    },
    /// The server signature checked out; waiting for `235`.
    Verified,
    /// `finish` succeeded.
    Done,
    /// A step failed; the exchange cannot go on.
    Failed,
}

impl State {
    fn label(&self) -> &'static str {
        match self {
            State::Initial => "initial",
            State::ClientFirstSent { .. } => "client-first sent",
            State::ClientFinalSent { .. } => "client-final sent",
            State::Verified => "verified",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// What the GS2 header says about channel binding.
#[derive(Clone)]
enum Binding {
    /// `n`: the client does not bind (no TLS, no binding data, or the
    /// server offers -PLUS and the configuration chose otherwise).
    None,
    /// `y`: the client could bind but the server offered no -PLUS
    /// mechanism.
    ServerOfferedNone,
    /// `p=NAME`: bound to this data (the -PLUS mechanism).
    Bound(ChannelBinding),
}

/// SCRAM-SHA-1 (RFC 5802) or SCRAM-SHA-256 (RFC 7677), and their -PLUS
/// variants with channel binding. The server must prove that it knows the
/// password: see the module documentation for how that fits SMTP.
pub struct Scram {
    hash: Hash,
    binding: Binding,
    user: String,
    password: Secret,
    authzid: Option<String>,
    fixed_nonce: Option<String>,
    inputs: std::sync::Arc<dyn crate::Inputs>,
    state: State,
}

impl fmt::Debug for Scram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scram")
            .field("mechanism", &self.name())
            .field("user", &self.user)
            .field("authzid", &self.authzid)
            .field("state", &self.state.label())
            .finish_non_exhaustive()
    }
}

impl Scram {
    /// SCRAM-SHA-1 for these credentials.
    pub fn sha1(c: &Credentials) -> Scram {
        Scram::new(Hash::Sha1, c)
    }

    /// SCRAM-SHA-256 for these credentials.
    pub fn sha256(c: &Credentials) -> Scram {
        Scram::new(Hash::Sha256, c)
    }

    /// SCRAM-SHA-1-PLUS, bound to this TLS connection's data.
    pub fn sha1_plus(c: &Credentials, binding: ChannelBinding) -> Scram {
        Scram {
            binding: Binding::Bound(binding),
            ..Scram::new(Hash::Sha1, c)
        }
    }

    /// SCRAM-SHA-256-PLUS, bound to this TLS connection's data.
    pub fn sha256_plus(c: &Credentials, binding: ChannelBinding) -> Scram {
        Scram {
            binding: Binding::Bound(binding),
            ..Scram::new(Hash::Sha256, c)
        }
    }

    /// For the plain (non-PLUS) mechanism: says in the GS2 header (flag
    /// `y`) that the client could have bound to the channel but the server
    /// offered no -PLUS mechanism. A server that does support channel
    /// binding then fails the exchange, because someone removed -PLUS
    /// from its list. [`Chooser`](crate::Chooser) sets it when the
    /// connection has binding data and the server offered no -PLUS.
    #[must_use]
    pub fn server_offered_no_binding(mut self) -> Scram {
        if !matches!(self.binding, Binding::Bound(_)) {
            self.binding = Binding::ServerOfferedNone;
        }
        self
    }

    fn new(hash: Hash, c: &Credentials) -> Scram {
        Scram {
            hash,
            binding: Binding::None,
            user: c.user.clone(),
            password: c.password.clone(),
            authzid: c.authzid.clone().filter(|a| !a.is_empty()),
            fixed_nonce: None,
            inputs: crate::system_inputs(),
            state: State::Initial,
        }
    }

    /// Takes its nonce's randomness from `inputs` (default
    /// [`SystemInputs`](crate::SystemInputs)).
    #[must_use]
    pub fn with_inputs(mut self, inputs: std::sync::Arc<dyn crate::Inputs>) -> Scram {
        self.inputs = inputs;
        self
    }

    /// Uses this client nonce instead of a random one. For tests against
    /// published vectors only: a predictable nonce breaks SCRAM's replay
    /// protection.
    #[doc(hidden)]
    #[must_use]
    pub fn with_nonce(mut self, nonce: &str) -> Scram {
        self.fixed_nonce = Some(nonce.to_owned());
        self
    }

    /// Builds client-first and moves to `ClientFirstSent`.
    fn client_first(&mut self) -> Result<Vec<u8>, SaslError> {
        let user = stringprep::saslprep(&self.user)
            .map_err(|e| SaslError::Credentials(format!("user name rejected by SASLprep: {e}")))?;
        let user = saslname(&user, "user name")?;
        let flag = match &self.binding {
            Binding::None => "n".to_owned(),
            Binding::ServerOfferedNone => "y".to_owned(),
            Binding::Bound(binding) => format!("p={}", binding.kind().name()),
        };
        let gs2_header = match &self.authzid {
            Some(authzid) => format!("{flag},a={},", saslname(authzid, "authorization id")?),
            None => format!("{flag},,"),
        };
        let nonce = match &self.fixed_nonce {
            Some(nonce) => nonce.clone(),
            None => crate::nonce(&*self.inputs)?,
        };
        if nonce.is_empty() || !nonce.bytes().all(is_printable) {
            return Err(SaslError::Credentials(
                "the client nonce must be printable ASCII without ','".into(),
            ));
        }
        let client_first_bare = format!("n={user},r={nonce}");
        let message = format!("{gs2_header}{client_first_bare}").into_bytes();
        self.state = State::ClientFirstSent {
            nonce,
            gs2_header,
            client_first_bare,
        };
        Ok(message)
    }

    /// Answers server-first with client-final.
    fn client_final(
        &self,
        challenge: &str,
        nonce: &str,
        gs2_header: &str,
        client_first_bare: &str,
    ) -> Result<(Vec<u8>, State), SaslError> {
        let server_first = parse_server_first(challenge, nonce)?;
        let password = stringprep::saslprep(self.password.expose())
            // The error names the offending character: keep it out of logs.
            .map_err(|_| {
                SaslError::Credentials("the password is rejected by SASLprep (RFC 4013)".into())
            })?;
        let password = Zeroizing::new(password.into_owned());

        // c= is the GS2 header, then (with -PLUS) the binding data.
        let mut channel = gs2_header.as_bytes().to_vec();
        if let Binding::Bound(binding) = &self.binding {
            channel.extend_from_slice(binding.data());
        }
        let without_proof = format!("c={},r={}", BASE64.encode(&channel), server_first.nonce);
        let auth_message = format!("{client_first_bare},{challenge},{without_proof}");

        let h = self.hash;
        let salted_password = h.hi(
            password.as_bytes(),
            &server_first.salt,
            server_first.iterations,
        )?;
        let client_key = h.hmac(&salted_password, b"Client Key")?;
        let stored_key = h.hash(&client_key);
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(client_signature.iter())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = h.hmac(&salted_password, b"Server Key")?;

        let message = format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes();
        Ok((
            message,
            State::ClientFinalSent {
                server_key,
                auth_message,
            },
        ))
    }
}

impl Mechanism for Scram {
    fn name(&self) -> &str {
        self.hash
            .mechanism(matches!(self.binding, Binding::Bound(_)))
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        if !matches!(self.state, State::Initial) {
            self.state = State::Failed;
            return Err(SaslError::UnexpectedStep(
                "SCRAM initial response already sent",
            ));
        }
        self.state = State::Failed;
        self.client_first().map(Some)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        // Any failure leaves the exchange in `Failed`.
        match std::mem::replace(&mut self.state, State::Failed) {
            // The server asked for the initial response with an empty 334.
            State::Initial if challenge.is_empty() => self.client_first(),
            State::Initial => Err(SaslError::UnexpectedStep(
                "SCRAM challenge before the client-first message",
            )),
            State::ClientFirstSent {
                nonce,
                gs2_header,
                client_first_bare,
            } => {
                let challenge = text(challenge)?;
                let (message, next) =
                    self.client_final(challenge, &nonce, &gs2_header, &client_first_bare)?;
                self.state = next;
                Ok(message)
            }
            State::ClientFinalSent {
                server_key,
                auth_message,
            } => {
                let challenge = text(challenge)?;
                verify_server_final(self.hash, challenge, &server_key, &auth_message)?;
                self.state = State::Verified;
                // RFC 4954 §4: the server-final message arrives as a 334
                // challenge; the client answers with an empty response.
                Ok(Vec::new())
            }
            State::Verified => Err(SaslError::UnexpectedStep("SCRAM exchange already complete")),
            State::Done => {
                self.state = State::Done;
                Err(SaslError::UnexpectedStep("SCRAM exchange already finished"))
            }
            State::Failed => Err(SaslError::UnexpectedStep("SCRAM exchange failed earlier")),
        }
    }

    fn finish(&mut self) -> Result<(), SaslError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Verified => {
                self.state = State::Done;
                Ok(())
            }
            State::Done => Err(SaslError::UnexpectedStep("SCRAM exchange already finished")),
            // The server claims success without having proved that it
            // knows the password (RFC 5802 §7: the client MUST verify it).
            State::ClientFinalSent { .. } => Err(SaslError::ServerVerification(
                "the server reported success without sending its SCRAM signature (v=)".into(),
            )),
            State::Initial | State::ClientFirstSent { .. } | State::Failed => {
                Err(SaslError::ServerVerification(
                    "the server reported success before the SCRAM exchange completed".into(),
                ))
            }
        }
    }
}

/// The challenge as UTF-8 text, bounded in size.
fn text(challenge: &[u8]) -> Result<&str, SaslError> {
    if challenge.len() > MAX_CHALLENGE {
        return Err(SaslError::BadChallenge(format!(
            "SCRAM challenge longer than {MAX_CHALLENGE} octets"
        )));
    }
    std::str::from_utf8(challenge)
        .map_err(|_| SaslError::BadChallenge("SCRAM challenge is not UTF-8".into()))
}

/// RFC 5802 `printable`: `%x21-2B / %x2D-7E` (visible ASCII but `,`).
fn is_printable(b: u8) -> bool {
    matches!(b, 0x21..=0x2B | 0x2D..=0x7E)
}

/// RFC 5802 `saslname`: non-empty, no NUL, `=` and `,` escaped.
fn saslname(name: &str, what: &str) -> Result<String, SaslError> {
    if name.is_empty() || name.contains('\0') {
        return Err(SaslError::Credentials(format!(
            "the {what} must be non-empty and contain no NUL"
        )));
    }
    Ok(name.replace('=', "=3D").replace(',', "=2C"))
}

/// RFC 5802 `attr-val` for an extension: one letter, `=`, a non-empty
/// value (`,` is the separator, so the split already excluded it).
fn is_extension(attr_val: &str) -> bool {
    let bytes = attr_val.as_bytes();
    bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b'=' && !bytes.contains(&0)
}

/// An RFC 5802 `server-error` value, typed: the channel-binding ones
/// (a man in the middle, a stripped mechanism list) apart from the rest.
fn server_error(value: &str) -> SaslError {
    match value {
        "channel-bindings-dont-match"
        | "server-does-support-channel-binding"
        | "channel-binding-not-supported"
        | "unsupported-channel-binding-type" => SaslError::ChannelBinding(value.to_owned()),
        _ => SaslError::ServerError(value.to_owned()),
    }
}

/// A parsed server-first message.
#[derive(Debug)]
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

fn bad(message: impl Into<String>) -> SaslError {
    SaslError::BadChallenge(message.into())
}

/// Parses `[reserved-mext ","] nonce "," salt "," iteration-count
/// ["," extensions]` (RFC 5802 §7), strictly.
fn parse_server_first<'a>(
    challenge: &'a str,
    client_nonce: &str,
) -> Result<ServerFirst<'a>, SaslError> {
    // Not in the grammar, but some servers abort this way: report it.
    if let Some(error) = challenge.strip_prefix("e=") {
        return Err(server_error(error.split(',').next().unwrap_or_default()));
    }
    let mut parts = challenge.split(',');
    let mut attribute = |name: &str| -> Result<&'a str, SaslError> {
        let part = parts
            .next()
            .ok_or_else(|| bad(format!("SCRAM server-first lacks {name}=")))?;
        if part.starts_with("m=") {
            return Err(bad(
                "SCRAM server-first has a mandatory extension (m=) this client does not support",
            ));
        }
        part.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(|| bad(format!("SCRAM server-first: expected {name}=")))
    };
    let nonce = attribute("r")?;
    let salt = attribute("s")?;
    let iterations = attribute("i")?;

    if nonce.is_empty() || !nonce.bytes().all(is_printable) {
        return Err(bad("SCRAM server nonce is empty or not printable"));
    }
    if nonce.len() <= client_nonce.len() || !nonce.starts_with(client_nonce) {
        return Err(bad("SCRAM server nonce does not extend the client nonce"));
    }

    let salt = BASE64
        .decode(salt)
        .map_err(|_| bad("SCRAM salt is not valid base64"))?;
    if salt.is_empty() {
        return Err(bad("SCRAM salt is empty"));
    }

    // posit-number = %x31-39 *DIGIT
    if !iterations.starts_with(|c: char| matches!(c, '1'..='9'))
        || !iterations.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("SCRAM iteration count is not a positive integer"));
    }
    let iterations = match iterations.parse::<u32>() {
        Ok(i) if (1..=MAX_ITERATIONS).contains(&i) => i,
        _ => {
            return Err(bad(format!(
                "SCRAM iteration count above the limit of {MAX_ITERATIONS}"
            )));
        }
    };

    // Optional extensions: well-formed, none of the reserved or already
    // given attributes; otherwise ignored.
    for extension in parts {
        if !is_extension(extension) {
            return Err(bad("SCRAM server-first has a malformed extension"));
        }
        if matches!(extension.as_bytes()[0], b'm' | b'r' | b's' | b'i') {
            return Err(bad(
                "SCRAM server-first repeats or misplaces a reserved attribute",
            ));
        }
    }

    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// Checks `(server-error / verifier) ["," extensions]` (RFC 5802 §7).
fn verify_server_final(
    hash: Hash,
    challenge: &str,
    server_key: &[u8],
    auth_message: &str,
) -> Result<(), SaslError> {
    let first = challenge.split(',').next().unwrap_or_default();
    if let Some(error) = first.strip_prefix("e=") {
        return Err(server_error(error));
    }
    let Some(verifier) = first.strip_prefix("v=") else {
        return Err(SaslError::ServerVerification(
            "the SCRAM server-final message has no verifier (v=)".into(),
        ));
    };
    let signature = BASE64.decode(verifier).map_err(|_| {
        SaslError::ServerVerification("the SCRAM server signature is not valid base64".into())
    })?;
    if hash.verify(server_key, auth_message.as_bytes(), &signature) {
        Ok(())
    } else {
        Err(SaslError::ServerVerification(
            "wrong SCRAM server signature: the server does not know the password".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials::new(user, Secret::new(password))
    }

    const SHA1_NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
    const SHA1_SERVER_FIRST: &str =
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_CLIENT_FINAL: &str =
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SHA1_SERVER_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    const SHA256_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SHA256_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SHA256_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    /// RFC 5802 §5 user, nonce, after client-first.
    fn sha1_started() -> Scram {
        let mut m = Scram::sha1(&creds("user", "pencil")).with_nonce(SHA1_NONCE);
        m.initial_response().unwrap();
        m
    }

    fn sha1_after_client_final() -> Scram {
        let mut m = sha1_started();
        m.respond(SHA1_SERVER_FIRST.as_bytes()).unwrap();
        m
    }

    #[test]
    fn rfc5802_sha1_example() {
        let mut m = Scram::sha1(&creds("user", "pencil")).with_nonce(SHA1_NONCE);
        assert_eq!(m.name(), "SCRAM-SHA-1");
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert_eq!(
            m.respond(SHA1_SERVER_FIRST.as_bytes()).unwrap(),
            SHA1_CLIENT_FINAL.as_bytes()
        );
        assert_eq!(m.respond(SHA1_SERVER_FINAL.as_bytes()).unwrap(), b"");
        m.finish().unwrap();
        // Nothing more.
        assert!(matches!(m.respond(b""), Err(SaslError::UnexpectedStep(_))));
        assert!(matches!(m.finish(), Err(SaslError::UnexpectedStep(_))));
    }

    #[test]
    fn rfc7677_sha256_example() {
        let mut m = Scram::sha256(&creds("user", "pencil")).with_nonce(SHA256_NONCE);
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        assert_eq!(
            m.respond(SHA256_SERVER_FIRST.as_bytes()).unwrap(),
            SHA256_CLIENT_FINAL.as_bytes()
        );
        assert_eq!(m.respond(SHA256_SERVER_FINAL.as_bytes()).unwrap(), b"");
        m.finish().unwrap();
    }

    #[test]
    fn random_nonce_is_used_and_fresh() {
        let first =
            |m: &mut Scram| String::from_utf8(m.initial_response().unwrap().unwrap()).unwrap();
        let a = first(&mut Scram::sha256(&creds("user", "pencil")));
        let b = first(&mut Scram::sha256(&creds("user", "pencil")));
        assert!(a.starts_with("n,,n=user,r="));
        assert!(a.len() > "n,,n=user,r=".len() + 16);
        assert_ne!(a, b);
    }

    #[test]
    fn empty_334_asks_for_client_first() {
        let mut m = Scram::sha1(&creds("user", "pencil")).with_nonce(SHA1_NONCE);
        assert_eq!(
            m.respond(b"").unwrap(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert_eq!(
            m.respond(SHA1_SERVER_FIRST.as_bytes()).unwrap(),
            SHA1_CLIENT_FINAL.as_bytes()
        );
    }

    #[test]
    fn authzid_goes_in_gs2_header_and_channel_binding() {
        let mut c = creds("user", "pencil");
        c.authzid = Some("ad,m=in".into());
        let mut m = Scram::sha1(&c).with_nonce(SHA1_NONCE);
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"n,a=ad=2Cm=3Din,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        let client_final =
            String::from_utf8(m.respond(SHA1_SERVER_FIRST.as_bytes()).unwrap()).unwrap();
        let c_attr = format!("c={},", BASE64.encode("n,a=ad=2Cm=3Din,"));
        assert!(client_final.starts_with(&c_attr), "{client_final}");
        // An empty authzid is no authzid.
        c.authzid = Some(String::new());
        let mut m = Scram::sha1(&c).with_nonce(SHA1_NONCE);
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
    }

    fn exporter(data: &[u8]) -> ChannelBinding {
        ChannelBinding::new(crate::ChannelBindingType::TlsExporter, data.to_vec())
    }

    #[test]
    fn plus_names_the_binding_and_carries_its_data_in_c() {
        let binding = exporter(&[0xAB; 32]);
        let mut m = Scram::sha256_plus(&creds("user", "pencil"), binding).with_nonce(SHA256_NONCE);
        assert_eq!(m.name(), "SCRAM-SHA-256-PLUS");
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        let client_final =
            String::from_utf8(m.respond(SHA256_SERVER_FIRST.as_bytes()).unwrap()).unwrap();
        let mut channel = b"p=tls-exporter,,".to_vec();
        channel.extend_from_slice(&[0xAB; 32]);
        let c_attr = format!("c={},", BASE64.encode(&channel));
        assert!(client_final.starts_with(&c_attr), "{client_final}");
        // The proof covers c=, so it differs from the unbound exchange's.
        assert_ne!(client_final, SHA256_CLIENT_FINAL);

        let end_point =
            ChannelBinding::new(crate::ChannelBindingType::TlsServerEndPoint, vec![1, 2, 3]);
        let mut c = creds("user", "pencil");
        c.authzid = Some("admin".into());
        let mut m = Scram::sha1_plus(&c, end_point).with_nonce("abc");
        assert_eq!(m.name(), "SCRAM-SHA-1-PLUS");
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"p=tls-server-end-point,a=admin,n=user,r=abc"
        );
        // The binding octets stay out of Debug.
        assert!(!format!("{m:?}").contains("171"), "{m:?}");
    }

    #[test]
    fn y_flag_when_the_server_offered_no_plus() {
        let mut m = Scram::sha256(&creds("user", "pencil"))
            .server_offered_no_binding()
            .with_nonce("abc");
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert_eq!(m.initial_response().unwrap().unwrap(), b"y,,n=user,r=abc");
        let client_final =
            String::from_utf8(m.respond(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").unwrap()).unwrap();
        assert!(client_final.starts_with(&format!("c={},", BASE64.encode("y,,"))));
        // A bound mechanism stays bound.
        let mut m = Scram::sha1_plus(&creds("user", "pencil"), exporter(&[1; 32]))
            .server_offered_no_binding()
            .with_nonce("abc");
        assert!(
            m.initial_response()
                .unwrap()
                .unwrap()
                .starts_with(b"p=tls-exporter,,")
        );
    }

    #[test]
    fn channel_binding_server_errors_are_typed() {
        for (value, channel) in [
            ("channel-bindings-dont-match", true),
            ("server-does-support-channel-binding", true),
            ("unsupported-channel-binding-type", true),
            ("channel-binding-not-supported", true),
            ("invalid-proof", false),
        ] {
            let mut m = Scram::sha256_plus(&creds("user", "pencil"), exporter(&[7; 32]))
                .with_nonce(SHA256_NONCE);
            m.initial_response().unwrap();
            m.respond(SHA256_SERVER_FIRST.as_bytes()).unwrap();
            let error = m.respond(format!("e={value}").as_bytes()).unwrap_err();
            assert_eq!(
                matches!(&error, SaslError::ChannelBinding(v) if v == value),
                channel,
                "{error:?}"
            );
            // And as the first challenge.
            let mut m = Scram::sha256_plus(&creds("user", "pencil"), exporter(&[7; 32]));
            m.initial_response().unwrap();
            let error = m.respond(format!("e={value}").as_bytes()).unwrap_err();
            assert_eq!(matches!(error, SaslError::ChannelBinding(_)), channel);
        }
        let error = SaslError::ChannelBinding("channel-bindings-dont-match".into());
        assert_eq!(
            error.to_string(),
            "channel binding failed: channel-bindings-dont-match"
        );
    }

    #[test]
    fn username_is_escaped() {
        let mut m = Scram::sha256(&creds("a,b=c", "pencil")).with_nonce("abc");
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"n,,n=a=2Cb=3Dc,r=abc"
        );
    }

    #[test]
    fn username_through_saslprep() {
        // U+00A0 maps to a space; U+00AD (soft hyphen) maps to nothing.
        let mut m = Scram::sha256(&creds("us\u{AD}er\u{A0}x", "pencil")).with_nonce("abc");
        assert_eq!(m.initial_response().unwrap().unwrap(), b"n,,n=user x,r=abc");
        let mut m = Scram::sha256(&creds("bad\u{7}", "pencil")).with_nonce("abc");
        assert!(matches!(
            m.initial_response(),
            Err(SaslError::Credentials(_))
        ));
        let mut m = Scram::sha256(&creds("", "pencil")).with_nonce("abc");
        assert!(matches!(
            m.initial_response(),
            Err(SaslError::Credentials(_))
        ));
    }

    #[test]
    fn password_saslprep_maps_non_ascii_space() {
        // "pencil" with U+00A0 in the middle is prepared as "pen cil": the
        // client-final must match the one for the plain-space password.
        let run = |password: &str| {
            let mut m = Scram::sha1(&creds("user", password)).with_nonce(SHA1_NONCE);
            m.initial_response().unwrap();
            m.respond(SHA1_SERVER_FIRST.as_bytes())
        };
        let mapped = run("pen\u{A0}cil").unwrap();
        assert_eq!(mapped, run("pen cil").unwrap());
        assert_ne!(mapped, SHA1_CLIENT_FINAL.as_bytes());
    }

    #[test]
    fn password_saslprep_rejects_prohibited() {
        let mut m = Scram::sha1(&creds("user", "pen\u{7}cil")).with_nonce(SHA1_NONCE);
        m.initial_response().unwrap();
        let error = m.respond(SHA1_SERVER_FIRST.as_bytes()).unwrap_err();
        assert!(matches!(&error, SaslError::Credentials(_)), "{error:?}");
        assert!(!error.to_string().contains("pen"));
    }

    #[test]
    fn tampered_server_signature() {
        let mut m = sha1_after_client_final();
        let e = m.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKR=").unwrap_err();
        assert!(matches!(e, SaslError::ServerVerification(_)), "{e:?}");
        // A failed exchange cannot be finished.
        assert!(matches!(m.finish(), Err(SaslError::ServerVerification(_))));

        for bad in [
            &b"v="[..],
            b"v=AAAA",
            b"v=!!!!",
            b"x=1",
            b"",
            b"rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        ] {
            let mut m = sha1_after_client_final();
            let e = m.respond(bad).unwrap_err();
            assert!(
                matches!(e, SaslError::ServerVerification(_)),
                "{bad:?}: {e:?}"
            );
        }
        // SHA-256's signature does not pass for SHA-1.
        let mut m = sha1_after_client_final();
        assert!(matches!(
            m.respond(SHA256_SERVER_FINAL.as_bytes()),
            Err(SaslError::ServerVerification(_))
        ));
    }

    #[test]
    fn server_final_with_extension_is_accepted() {
        let mut m = sha1_after_client_final();
        let challenge = format!("{SHA1_SERVER_FINAL},x=whatever");
        assert_eq!(m.respond(challenge.as_bytes()).unwrap(), b"");
        m.finish().unwrap();
    }

    #[test]
    fn finish_without_verification() {
        // 235 straight after client-final: the server never proved itself.
        let mut m = sha1_after_client_final();
        assert!(matches!(m.finish(), Err(SaslError::ServerVerification(_))));
        // 235 before anything.
        let mut m = Scram::sha256(&creds("user", "pencil"));
        assert!(matches!(m.finish(), Err(SaslError::ServerVerification(_))));
        let mut m = sha1_started();
        assert!(matches!(m.finish(), Err(SaslError::ServerVerification(_))));
    }

    #[test]
    fn server_error() {
        let mut m = sha1_after_client_final();
        assert_eq!(
            m.respond(b"e=invalid-proof"),
            Err(SaslError::ServerError("invalid-proof".into()))
        );
        assert!(matches!(m.respond(b""), Err(SaslError::UnexpectedStep(_))));
        let mut m = sha1_started();
        assert_eq!(
            m.respond(b"e=unknown-user"),
            Err(SaslError::ServerError("unknown-user".into()))
        );
    }

    #[test]
    fn out_of_order() {
        let mut m = Scram::sha1(&creds("user", "pencil"));
        assert!(matches!(
            m.respond(b"r=abc,s=QSXCR+Q6sek8bf92,i=4096"),
            Err(SaslError::UnexpectedStep(_))
        ));
        let mut m = sha1_started();
        assert!(matches!(
            m.initial_response(),
            Err(SaslError::UnexpectedStep(_))
        ));
        let mut m = sha1_after_client_final();
        m.respond(SHA1_SERVER_FINAL.as_bytes()).unwrap();
        assert!(matches!(
            m.respond(SHA1_SERVER_FINAL.as_bytes()),
            Err(SaslError::UnexpectedStep(_))
        ));
        // After a failure every step is refused.
        let mut m = sha1_started();
        assert!(m.respond(b"garbage").is_err());
        assert!(matches!(
            m.respond(SHA1_SERVER_FIRST.as_bytes()),
            Err(SaslError::UnexpectedStep(_))
        ));
    }

    fn server_first_error(challenge: &str) -> SaslError {
        sha1_started().respond(challenge.as_bytes()).unwrap_err()
    }

    fn assert_bad(challenge: &str) {
        let e = server_first_error(challenge);
        assert!(
            matches!(e, SaslError::BadChallenge(_)),
            "{challenge:?}: {e:?}"
        );
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        assert_bad("r=XXXX+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
        // Equal is not enough: the server must add its part.
        assert_bad("r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096");
        assert_bad("r=fyko,s=QSXCR+Q6sek8bf92,i=4096");
        assert_bad("r=,s=QSXCR+Q6sek8bf92,i=4096");
        // Not printable.
        assert_bad("r=fyko+d2lbbFgONRv9qkxdawL3rf cNHYJY,s=QSXCR+Q6sek8bf92,i=4096");
        assert_bad("r=fyko+d2lbbFgONRv9qkxdawL\u{e9},s=QSXCR+Q6sek8bf92,i=4096");
    }

    #[test]
    fn bad_salt() {
        assert_bad("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf9,i=4096");
        assert_bad("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=!!!!,i=4096");
        assert_bad("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=,i=4096");
    }

    #[test]
    fn bad_iteration_counts() {
        let with = |i: &str| {
            format!("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i={i}")
        };
        for i in [
            "0",
            "",
            "-1",
            "+5",
            "04096",
            "4096x",
            "1e4",
            " 4096",
            "10000001",
            "4294967295",
            "4294967296",
            "99999999999999999999",
        ] {
            assert_bad(&with(i));
        }
        // The bound itself would be accepted (not run: it takes seconds).
        assert!(parse_server_first(&with("10000000"), SHA1_NONCE).is_ok());
        assert!(parse_server_first(&with("1"), SHA1_NONCE).is_ok());
    }

    #[test]
    fn strict_server_first_grammar() {
        let n = "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
        for challenge in [
            format!("m=ext,r={n},s=QSXCR+Q6sek8bf92,i=4096"),
            format!("s=QSXCR+Q6sek8bf92,r={n},i=4096"),
            format!("r={n},i=4096,s=QSXCR+Q6sek8bf92"),
            format!("r={n},s=QSXCR+Q6sek8bf92"),
            format!("r={n}"),
            format!("r={n},s=QSXCR+Q6sek8bf92,i=4096,"),
            format!("r={n},s=QSXCR+Q6sek8bf92,i=4096,m=ext"),
            format!("r={n},s=QSXCR+Q6sek8bf92,i=4096,i=1"),
            format!("r={n},s=QSXCR+Q6sek8bf92,i=4096,xy=1"),
            format!("r={n},s=QSXCR+Q6sek8bf92,i=4096,x="),
            format!(" r={n},s=QSXCR+Q6sek8bf92,i=4096"),
            String::new(),
            ",,".into(),
        ] {
            assert_bad(&challenge);
        }
        // Optional extensions after i= are ignored.
        let ok = format!("r={n},s=QSXCR+Q6sek8bf92,i=4096,x=future");
        let mut m = sha1_started();
        let client_final = String::from_utf8(m.respond(ok.as_bytes()).unwrap()).unwrap();
        assert!(client_final.starts_with(&format!("c=biws,r={n},p=")));
    }

    #[test]
    fn truncated_and_oversized_challenges() {
        // Every cut before the first digit of the iteration count.
        let digits = SHA1_SERVER_FIRST.len() - "4096".len();
        for cut in 0..digits {
            let e = server_first_error(&SHA1_SERVER_FIRST[..cut]);
            assert!(matches!(e, SaslError::BadChallenge(_)), "{cut}: {e:?}");
        }
        let huge = format!("{SHA1_SERVER_FIRST},x={}", "a".repeat(MAX_CHALLENGE));
        assert_bad(&huge);
        let mut m = sha1_after_client_final();
        let huge = format!("{SHA1_SERVER_FINAL},x={}", "a".repeat(MAX_CHALLENGE));
        assert!(matches!(
            m.respond(huge.as_bytes()),
            Err(SaslError::BadChallenge(_))
        ));
        for cut in 0..SHA1_SERVER_FINAL.len() {
            let mut m = sha1_after_client_final();
            let e = m.respond(&SHA1_SERVER_FINAL.as_bytes()[..cut]).unwrap_err();
            assert!(
                matches!(e, SaslError::ServerVerification(_)),
                "{cut}: {e:?}"
            );
        }
        let mut m = sha1_started();
        assert!(matches!(
            m.respond(b"r=\xff\xfe,s=QSXCR+Q6sek8bf92,i=4096"),
            Err(SaslError::BadChallenge(_))
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let mut m = sha1_after_client_final();
        let shown = format!("{m:?}");
        assert!(
            shown.contains("SCRAM-SHA-1") && shown.contains("client-final sent"),
            "{shown}"
        );
        assert!(!shown.contains("pencil"));
        m.respond(SHA1_SERVER_FINAL.as_bytes()).unwrap();
        assert!(!format!("{m:?}").contains("pencil"));
    }

    #[test]
    fn mechanism_is_send() {
        fn send<T: Send>() {}
        send::<Scram>();
        let _boxed: Box<dyn Mechanism> = Box::new(Scram::sha1(&creds("u", "p")));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_server_first_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = sha1_started().respond(&bytes);
        }

        #[test]
        fn structured_server_first_never_panics(
            suffix in "[ -~]{0,12}",
            salt in "[A-Za-z0-9+/=!]{0,12}",
            i in "[0-9]{0,4}",
            extra in "(,[a-z=]{0,4}){0,2}",
        ) {
            let challenge = format!("r={SHA1_NONCE}{suffix},s={salt},i={i}{extra}");
            let _ = sha1_started().respond(challenge.as_bytes());
        }

        #[test]
        fn arbitrary_server_final_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut m = sha1_after_client_final();
            if m.respond(&bytes).is_ok() {
                // Only the real signature gets through.
                prop_assert_eq!(&bytes[..], SHA1_SERVER_FINAL.as_bytes());
            }
            let _ = m.finish();
        }

        #[test]
        fn arbitrary_server_final_text_never_panics(s in "(v=|e=)?[ -~]{0,64}") {
            let mut m = sha1_after_client_final();
            let _ = m.respond(s.as_bytes());
            let _ = m.finish();
        }
    }
}
