//! The server side of SMTP AUTH for the test server: PLAIN, LOGIN,
//! CRAM-MD5, XOAUTH2, OAUTHBEARER, ANONYMOUS, EXTERNAL, SCRAM-SHA-1,
//! SCRAM-SHA-256 and their -PLUS variants (channel binding to
//! `tls-exporter` on TLS 1.3 and `tls-server-end-point`, checked against
//! this end of the TLS connection; a `y` flag while -PLUS is offered is a
//! downgrade), DIGEST-MD5 (RFC 2831) and NTLM (MS-NLMP, NTLMv2 and
//! NTLMv1), verified against the script's users. Written from the RFCs and
//! MS-NLMP independently of smtp-auth, so that a mistake in the client is
//! not mirrored here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};

/// What the exchange says next.
pub(crate) enum Step {
    /// `334` with this (raw, to be base64-encoded) challenge.
    Challenge(Vec<u8>),
    /// `235`: authenticated as this user.
    Success(String),
    /// `535`.
    Failure,
}

enum Mech {
    Plain,
    Login {
        user: Option<String>,
    },
    CramMd5 {
        challenge: Vec<u8>,
    },
    Bearer {
        oauthbearer: bool,
        failed: bool,
    },
    Anonymous,
    External,
    Scram {
        sha256: bool,
        plus: bool,
        state: ScramState,
    },
    DigestMd5 {
        nonce: String,
        stage: DigestStage,
    },
    Ntlm {
        stage: NtlmStage,
    },
}

enum DigestStage {
    /// The digest-challenge has not gone out yet.
    Start,
    /// The digest-challenge went out; waiting for the digest-response.
    Challenged,
    /// The response was right and `rspauth` went out; waiting for the
    /// client's empty response.
    Verified { user: String },
    /// Failed or finished: nothing more is accepted.
    Done,
}

enum NtlmStage {
    /// Waiting for the NEGOTIATE_MESSAGE.
    Negotiate,
    /// The CHALLENGE_MESSAGE went out; waiting for the AUTHENTICATE_MESSAGE.
    Authenticate(ntlm::Pending),
    /// Failed or finished: nothing more is accepted.
    Done,
}

enum ScramState {
    First,
    Final {
        user: String,
        client_first_bare: String,
        server_first: String,
        gs2_header: String,
        /// The binding data the client must have put after the GS2
        /// header in `c=` (empty without `p=`).
        binding: Vec<u8>,
        nonce: String,
        salted: Vec<u8>,
    },
    Verified {
        user: String,
    },
    /// A server-error (`e=`) went out: nothing more succeeds.
    Failed,
}

/// What the server knows of its TLS channel, for SCRAM-*-PLUS
/// (RFC 5802 §6) and the downgrade check.
#[derive(Debug, Clone, Default)]
pub(crate) struct Channel {
    /// `tls-exporter` data (RFC 9266), on TLS 1.3.
    pub(crate) exporter: Option<Vec<u8>>,
    /// `tls-server-end-point` data (RFC 5929): the hash of the
    /// certificate the server presented.
    pub(crate) end_point: Option<Vec<u8>>,
    /// The server offers a -PLUS mechanism, so a client that could bind
    /// and says it thinks the server cannot (`y`) saw a stripped list.
    pub(crate) offers_plus: bool,
}

impl Channel {
    fn data(&self, name: &str) -> Option<&[u8]> {
        match name {
            "tls-exporter" => self.exporter.as_deref(),
            "tls-server-end-point" => self.end_point.as_deref(),
            _ => None,
        }
    }

    fn can_bind(&self) -> bool {
        self.exporter.is_some() || self.end_point.is_some()
    }
}

/// One AUTH exchange.
pub(crate) struct Exchange {
    mech: Mech,
    users: Vec<(String, String)>,
    counter: u64,
    channel: Channel,
}

fn hmac_sha(sha256: bool, key: &[u8], data: &[u8]) -> Vec<u8> {
    if sha256 {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    } else {
        let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
}

/// HMAC accepts keys of any length, so `new_from_slice` cannot fail.
fn unreachable_hmac<T>() -> T {
    unreachable!("HMAC takes keys of any length")
}

fn hash(sha256: bool, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    if sha256 {
        sha2::Sha256::digest(data).to_vec()
    } else {
        sha1::Sha1::digest(data).to_vec()
    }
}

impl Exchange {
    /// Starts an exchange; `None` when the mechanism is unknown.
    pub(crate) fn start(
        mechanism: &str,
        initial: Option<Vec<u8>>,
        users: &[(String, String)],
        counter: u64,
        channel: &Channel,
    ) -> Option<(Exchange, Step)> {
        let mech = match mechanism {
            "PLAIN" => Mech::Plain,
            "LOGIN" => Mech::Login { user: None },
            "CRAM-MD5" => Mech::CramMd5 {
                challenge: format!("<{counter}.{}@testkit.invalid>", 1_700_000_000 + counter)
                    .into_bytes(),
            },
            "XOAUTH2" => Mech::Bearer {
                oauthbearer: false,
                failed: false,
            },
            "OAUTHBEARER" => Mech::Bearer {
                oauthbearer: true,
                failed: false,
            },
            "ANONYMOUS" => Mech::Anonymous,
            "EXTERNAL" => Mech::External,
            "SCRAM-SHA-1" | "SCRAM-SHA-256" | "SCRAM-SHA-1-PLUS" | "SCRAM-SHA-256-PLUS" => {
                Mech::Scram {
                    sha256: mechanism.starts_with("SCRAM-SHA-256"),
                    plus: mechanism.ends_with("-PLUS"),
                    state: ScramState::First,
                }
            }
            "DIGEST-MD5" => Mech::DigestMd5 {
                nonce: hex(&unique(counter)),
                stage: DigestStage::Start,
            },
            "NTLM" => Mech::Ntlm {
                stage: NtlmStage::Negotiate,
            },
            _ => return None,
        };
        let mut exchange = Exchange {
            mech,
            users: users.to_vec(),
            counter,
            channel: channel.clone(),
        };
        let step = match initial {
            Some(data) => exchange.step(&data),
            None => exchange.first_challenge(),
        };
        Some((exchange, step))
    }

    fn password(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
    }

    fn check(&self, user: &str, password: &str) -> Step {
        match self.password(user) {
            Some(p) if p == password => Step::Success(user.to_owned()),
            _ => Step::Failure,
        }
    }

    fn first_challenge(&mut self) -> Step {
        match &mut self.mech {
            Mech::Login { .. } => Step::Challenge(b"Username:".to_vec()),
            Mech::CramMd5 { challenge } => Step::Challenge(challenge.clone()),
            Mech::DigestMd5 { nonce, stage } => {
                *stage = DigestStage::Challenged;
                Step::Challenge(digest_md5::challenge(nonce))
            }
            _ => Step::Challenge(Vec::new()),
        }
    }

    /// The client's next response (decoded from base64).
    pub(crate) fn step(&mut self, data: &[u8]) -> Step {
        match &mut self.mech {
            Mech::DigestMd5 { nonce, stage } => {
                return match std::mem::replace(stage, DigestStage::Done) {
                    // `AUTH DIGEST-MD5 =`: DIGEST-MD5 is server-first, so
                    // the only acceptable initial response is an empty one.
                    DigestStage::Start if data.is_empty() => {
                        *stage = DigestStage::Challenged;
                        Step::Challenge(digest_md5::challenge(nonce))
                    }
                    DigestStage::Challenged => {
                        match digest_md5::verify(&self.users, nonce, "smtp", data) {
                            Some((user, rspauth)) => {
                                *stage = DigestStage::Verified { user };
                                Step::Challenge(format!("rspauth={rspauth}").into_bytes())
                            }
                            None => Step::Failure,
                        }
                    }
                    DigestStage::Verified { user } if data.is_empty() => Step::Success(user),
                    _ => Step::Failure,
                };
            }
            Mech::Ntlm { stage } => {
                return match std::mem::replace(stage, NtlmStage::Done) {
                    NtlmStage::Negotiate => {
                        let [c0, c1, c2, c3, c4, c5, c6, c7, ..] = unique(self.counter);
                        let server_challenge = [c0, c1, c2, c3, c4, c5, c6, c7];
                        match ntlm::challenge(data, server_challenge, ntlm::now_filetime()) {
                            Some(pending) => {
                                let message = pending.challenge.clone();
                                *stage = NtlmStage::Authenticate(pending);
                                Step::Challenge(message)
                            }
                            None => Step::Failure,
                        }
                    }
                    NtlmStage::Authenticate(pending) => {
                        match ntlm::verify(&self.users, &pending, data) {
                            Some(user) => Step::Success(user),
                            None => Step::Failure,
                        }
                    }
                    NtlmStage::Done => Step::Failure,
                };
            }
            _ => {}
        }
        let text = String::from_utf8_lossy(data).into_owned();
        match &mut self.mech {
            Mech::Plain => {
                let parts: Vec<&str> = text.split('\0').collect();
                match parts.as_slice() {
                    [_authzid, user, password] => self.check(user, password),
                    _ => Step::Failure,
                }
            }
            Mech::Login { user } => match user.take() {
                None => {
                    *user = Some(text);
                    Step::Challenge(b"Password:".to_vec())
                }
                Some(u) => self.check(&u, &text),
            },
            Mech::CramMd5 { challenge } => {
                let challenge = challenge.clone();
                let Some((user, digest)) = text.rsplit_once(' ') else {
                    return Step::Failure;
                };
                let Some(password) = self.password(user) else {
                    return Step::Failure;
                };
                let mut mac = <Hmac<md5::Md5> as KeyInit>::new_from_slice(password.as_bytes())
                    .unwrap_or_else(|_| unreachable_hmac());
                mac.update(&challenge);
                let expected: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if expected == digest {
                    Step::Success(user.to_owned())
                } else {
                    Step::Failure
                }
            }
            Mech::Bearer {
                oauthbearer,
                failed,
            } => {
                if *failed {
                    // The client acknowledged the error challenge.
                    return Step::Failure;
                }
                let fields: Vec<&str> = text.split('\x01').collect();
                let user = if *oauthbearer {
                    fields
                        .first()
                        .and_then(|gs2| gs2.split(',').find_map(|p| p.strip_prefix("a=")))
                        .map(|u| u.replace("=2C", ",").replace("=3D", "="))
                } else {
                    fields
                        .iter()
                        .find_map(|f| f.strip_prefix("user="))
                        .map(str::to_owned)
                };
                let token = fields.iter().find_map(|f| f.strip_prefix("auth=Bearer "));
                match (user, token) {
                    (Some(user), Some(token))
                        if self.users.iter().any(|(u, p)| *u == user && p == token) =>
                    {
                        Step::Success(user)
                    }
                    _ => {
                        *failed = true;
                        Step::Challenge(
                            br#"{"status":"invalid_token","schemes":"bearer","scope":"mail"}"#
                                .to_vec(),
                        )
                    }
                }
            }
            Mech::Anonymous => Step::Success(format!("anonymous ({text})")),
            Mech::External => {
                if text.is_empty() || self.password(&text).is_some() {
                    Step::Success(if text.is_empty() {
                        "external".into()
                    } else {
                        text
                    })
                } else {
                    Step::Failure
                }
            }
            Mech::Scram {
                sha256,
                plus,
                state,
            } => {
                let (sha256, plus) = (*sha256, *plus);
                let counter = self.counter;
                match std::mem::replace(state, ScramState::Failed) {
                    ScramState::First => {
                        let Some((gs2, bare)) = split_gs2(&text) else {
                            return Step::Failure;
                        };
                        // RFC 5802 §6: the GS2 flag against the mechanism
                        // and what this end of the channel can bind to.
                        let binding = match gs2.split(',').next().unwrap_or_default() {
                            "n" if !plus => Vec::new(),
                            "y" if !plus && self.channel.offers_plus && self.channel.can_bind() => {
                                return server_error("server-does-support-channel-binding");
                            }
                            "y" if !plus => Vec::new(),
                            flag => match flag.strip_prefix("p=") {
                                Some(_) if !plus => return Step::Failure,
                                Some(name) => match self.channel.data(name) {
                                    Some(data) => data.to_vec(),
                                    None => {
                                        return server_error("unsupported-channel-binding-type");
                                    }
                                },
                                None => return Step::Failure,
                            },
                        };
                        let mut user = None;
                        let mut cnonce = None;
                        for attr in bare.split(',') {
                            if let Some(u) = attr.strip_prefix("n=") {
                                user = Some(u.replace("=2C", ",").replace("=3D", "="));
                            } else if let Some(r) = attr.strip_prefix("r=") {
                                cnonce = Some(r.to_owned());
                            }
                        }
                        let (Some(user), Some(cnonce)) = (user, cnonce) else {
                            return Step::Failure;
                        };
                        let Some(password) = self.password(&user).map(str::to_owned) else {
                            return Step::Failure;
                        };
                        let salt = format!("testkit-salt-{counter}").into_bytes();
                        let mut salted = vec![0u8; if sha256 { 32 } else { 20 }];
                        if sha256 {
                            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                                password.as_bytes(),
                                &salt,
                                4096,
                                &mut salted,
                            );
                        } else {
                            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                                password.as_bytes(),
                                &salt,
                                4096,
                                &mut salted,
                            );
                        }
                        let nonce = format!("{cnonce}testkit{counter}");
                        let server_first = format!("r={nonce},s={},i=4096", BASE64.encode(&salt));
                        let Mech::Scram { state, .. } = &mut self.mech else {
                            return Step::Failure;
                        };
                        *state = ScramState::Final {
                            user,
                            client_first_bare: bare.to_owned(),
                            server_first: server_first.clone(),
                            gs2_header: gs2.to_owned(),
                            binding,
                            nonce,
                            salted,
                        };
                        Step::Challenge(server_first.into_bytes())
                    }
                    ScramState::Final {
                        user,
                        client_first_bare,
                        server_first,
                        gs2_header,
                        binding,
                        nonce,
                        salted,
                    } => {
                        let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
                            return Step::Failure;
                        };
                        let Some((channel, rest)) = without_proof
                            .strip_prefix("c=")
                            .and_then(|rest| rest.split_once(','))
                        else {
                            return Step::Failure;
                        };
                        if rest != format!("r={nonce}") {
                            return Step::Failure;
                        }
                        let Ok(channel) = BASE64.decode(channel) else {
                            return Step::Failure;
                        };
                        match channel.strip_prefix(gs2_header.as_bytes()) {
                            Some(data) if ct_eq(data, &binding) => {}
                            // The client's end of the channel is not ours:
                            // someone in the middle terminated its TLS.
                            Some(_) if !binding.is_empty() => {
                                return server_error("channel-bindings-dont-match");
                            }
                            _ => return Step::Failure,
                        }
                        let Ok(proof) = BASE64.decode(proof) else {
                            return Step::Failure;
                        };
                        let auth_message =
                            format!("{client_first_bare},{server_first},{without_proof}");
                        let client_key = hmac_sha(sha256, &salted, b"Client Key");
                        let stored_key = hash(sha256, &client_key);
                        let signature = hmac_sha(sha256, &stored_key, auth_message.as_bytes());
                        let recovered: Vec<u8> =
                            proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
                        if proof.len() != signature.len() || hash(sha256, &recovered) != stored_key
                        {
                            return Step::Failure;
                        }
                        let server_key = hmac_sha(sha256, &salted, b"Server Key");
                        let server_signature =
                            hmac_sha(sha256, &server_key, auth_message.as_bytes());
                        let Mech::Scram { state, .. } = &mut self.mech else {
                            return Step::Failure;
                        };
                        *state = ScramState::Verified { user };
                        Step::Challenge(
                            format!("v={}", BASE64.encode(server_signature)).into_bytes(),
                        )
                    }
                    ScramState::Verified { user } => {
                        if data.is_empty() {
                            Step::Success(user)
                        } else {
                            Step::Failure
                        }
                    }
                    ScramState::Failed => Step::Failure,
                }
            }
            // Handled above.
            Mech::DigestMd5 { .. } | Mech::Ntlm { .. } => Step::Failure,
        }
    }
}

/// `n,,rest`, `y,a=authzid,rest` or `p=NAME,,rest`: the GS2 header (with
/// its trailing comma) and the rest.
fn split_gs2(text: &str) -> Option<(&str, &str)> {
    let first = text.find(',')?;
    let second = first + 1 + text[first + 1..].find(',')?;
    if !text.starts_with("n,") && !text.starts_with("y,") && !text.starts_with("p=") {
        return None;
    }
    Some((&text[..=second], &text[second + 1..]))
}

/// An RFC 5802 server-error, sent as the server-final message (a `334`
/// the client answers with `*`); the exchange is over.
fn server_error(value: &str) -> Step {
    Step::Challenge(format!("e={value}").into_bytes())
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sixteen octets no other exchange in this process gets (a DIGEST-MD5
/// nonce, an NTLM server challenge): a process-wide sequence number, the
/// connection's counter, the process id and the clock, hashed.
fn unique(counter: u64) -> [u8; 16] {
    use md5::Digest;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{}:{sequence}:{counter}:{nanos}", std::process::id());
    md5::Md5::digest(seed.as_bytes()).into()
}

/// HMAC-MD5 over the concatenation of `parts`.
fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac =
        <Hmac<md5::Md5> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Equal length and contents, without an early exit on the contents.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// DIGEST-MD5 (RFC 2831), server side, `qop=auth` only.
mod digest_md5 {
    use md5::{Digest, Md5};

    use super::{ct_eq, hex};

    /// The one realm offered.
    pub(super) const REALM: &str = "testkit.invalid";

    /// RFC 2831 §2.1.2: a digest-response is shorter than 4096 octets.
    const MAX_RESPONSE: usize = 4096;

    /// The digest-challenge (§2.1.1) for this nonce.
    pub(super) fn challenge(nonce: &str) -> Vec<u8> {
        format!("realm=\"{REALM}\",nonce=\"{nonce}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess")
            .into_bytes()
    }

    /// RFC 2616 §2.2 separators.
    fn is_separator(b: u8) -> bool {
        b"()<>@,;:\\\"/[]?={} \t".contains(&b)
    }

    /// RFC 2616 §2.2 token characters: CHAR but CTLs and separators.
    fn is_token(b: u8) -> bool {
        (0x21..0x7f).contains(&b) && !is_separator(b)
    }

    /// Implied LWS between words (RFC 2616 §2.1), folding included.
    fn is_lws(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\r' | b'\n')
    }

    /// Splits `1#( name "=" ( token | quoted-string ) )` (RFC 2831 §7.1,
    /// RFC 2616 §2.1–2.2, empty list elements allowed) into names (as
    /// sent) and values (unquoted, quoted-pairs resolved). `None` for any
    /// syntax error.
    pub(super) fn directives(input: &[u8]) -> Option<Vec<(&[u8], Vec<u8>)>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let skip_lws = |pos: &mut usize| {
            while input.get(*pos).copied().is_some_and(is_lws) {
                *pos += 1;
            }
        };
        loop {
            skip_lws(&mut pos);
            match input.get(pos) {
                None => break,
                Some(b',') => {
                    pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            let start = pos;
            while input.get(pos).copied().is_some_and(is_token) {
                pos += 1;
            }
            let name = input.get(start..pos)?;
            if name.is_empty() {
                return None;
            }
            skip_lws(&mut pos);
            if input.get(pos) != Some(&b'=') {
                return None;
            }
            pos += 1;
            skip_lws(&mut pos);
            let mut value = Vec::new();
            if input.get(pos) == Some(&b'"') {
                pos += 1;
                loop {
                    match *input.get(pos)? {
                        b'"' => {
                            pos += 1;
                            break;
                        }
                        // quoted-pair = "\" CHAR (US-ASCII).
                        b'\\' => {
                            let escaped = *input.get(pos + 1)?;
                            if !escaped.is_ascii() {
                                return None;
                            }
                            value.push(escaped);
                            pos += 2;
                        }
                        // qdtext: TEXT (any octet but CTLs, LWS allowed)
                        // except '"'.
                        b if b.is_ascii_control() && !is_lws(b) => return None,
                        b => {
                            value.push(b);
                            pos += 1;
                        }
                    }
                }
            } else {
                let start = pos;
                while input.get(pos).copied().is_some_and(is_token) {
                    pos += 1;
                }
                value.extend_from_slice(input.get(start..pos)?);
                if value.is_empty() {
                    return None;
                }
            }
            out.push((name, value));
            skip_lws(&mut pos);
            match input.get(pos) {
                None => break,
                Some(b',') => pos += 1,
                Some(_) => return None,
            }
        }
        Some(out)
    }

    /// The directives of a digest-response (§2.1.2) this server reads.
    #[derive(Default)]
    struct Response {
        username: Option<Vec<u8>>,
        realm: Option<Vec<u8>>,
        nonce: Option<Vec<u8>>,
        cnonce: Option<Vec<u8>>,
        nc: Option<Vec<u8>>,
        qop: Option<Vec<u8>>,
        digest_uri: Option<Vec<u8>>,
        response: Option<Vec<u8>>,
        maxbuf: Option<Vec<u8>>,
        charset: Option<Vec<u8>>,
        cipher: Option<Vec<u8>>,
        authzid: Option<Vec<u8>>,
    }

    /// Octets as text: UTF-8 with `charset=utf-8`, else ISO 8859-1.
    fn decode(value: &[u8], utf8: bool) -> Option<String> {
        if utf8 {
            String::from_utf8(value.to_vec()).ok()
        } else {
            Some(value.iter().copied().map(char::from).collect())
        }
    }

    /// §2.1.2.1: user name, realm and password are hashed as ISO 8859-1
    /// when every character fits (even with `charset=utf-8`), else as
    /// UTF-8, which only `charset=utf-8` allows.
    fn hash_octets(s: &str, utf8: bool) -> Option<Vec<u8>> {
        let latin1: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(c).ok()).collect();
        match latin1 {
            Some(octets) => Some(octets),
            None if utf8 => Some(s.as_bytes().to_vec()),
            None => None,
        }
    }

    /// `HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2))))`, KD(k, s) =
    /// H(k:s) (§2.1.2.1).
    fn kd(ha1: &str, nonce: &[u8], nc: &[u8], cnonce: &[u8], qop: &[u8], a2: &[u8]) -> String {
        let ha2 = hex(&Md5::digest(a2));
        let mut h = Md5::new();
        h.update(ha1.as_bytes());
        for part in [nonce, nc, cnonce, qop, ha2.as_bytes()] {
            h.update(b":");
            h.update(part);
        }
        hex(&h.finalize())
    }

    /// Checks a digest-response against `users` for this `nonce` and a
    /// `digest-uri` of `serv_type/host[/serv-name]`: the authenticated
    /// user (as the script names it) and the `rspauth` value, or `None`.
    pub(super) fn verify(
        users: &[(String, String)],
        nonce: &str,
        serv_type: &str,
        input: &[u8],
    ) -> Option<(String, String)> {
        if input.len() >= MAX_RESPONSE {
            return None;
        }
        let mut r = Response::default();
        for (name, value) in directives(input)? {
            let slot = match name.to_ascii_lowercase().as_slice() {
                b"username" => &mut r.username,
                b"realm" => &mut r.realm,
                b"nonce" => &mut r.nonce,
                b"cnonce" => &mut r.cnonce,
                b"nc" => &mut r.nc,
                b"qop" => &mut r.qop,
                b"digest-uri" => &mut r.digest_uri,
                b"response" => &mut r.response,
                b"maxbuf" => &mut r.maxbuf,
                b"charset" => &mut r.charset,
                b"cipher" => &mut r.cipher,
                b"authzid" => &mut r.authzid,
                // auth-param: ignored.
                _ => continue,
            };
            // Every directive the RFC names appears at most once.
            if slot.replace(value).is_some() {
                return None;
            }
        }
        let utf8 = match &r.charset {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(_) => return None,
        };
        let username = decode(r.username.as_deref()?, utf8)?;
        // Required when the server offered realms (as here), but tolerated
        // when missing: the empty realm is then hashed (§2.1.2.1).
        let realm = match &r.realm {
            Some(realm) => decode(realm, utf8)?,
            None => String::new(),
        };
        let nonce_sent = r.nonce.as_deref()?;
        if nonce_sent != nonce.as_bytes() {
            return None;
        }
        let cnonce = r.cnonce.as_deref()?;
        if cnonce.is_empty() {
            return None;
        }
        // nc-value = 8LHEX, and this is the nonce's first (only) use.
        let nc = r.nc.as_deref()?;
        if nc.len() != 8
            || !nc.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            || u32::from_str_radix(std::str::from_utf8(nc).ok()?, 16).ok()? != 1
        {
            return None;
        }
        // Only qop=auth was offered (absent means auth).
        let qop = r.qop.as_deref().unwrap_or(b"auth");
        if qop != b"auth" || r.cipher.is_some() {
            return None;
        }
        // maxbuf only matters with a security layer: ignored.
        let _ = r.maxbuf;
        // digest-uri = serv-type "/" host [ "/" serv-name ] (§2.1.2).
        let digest_uri = r.digest_uri.as_deref()?;
        let mut parts = digest_uri.split(|&b| b == b'/');
        if parts.next() != Some(serv_type.as_bytes())
            || parts.next().is_none_or(<[u8]>::is_empty)
            || parts.next().is_some_and(<[u8]>::is_empty)
            || parts.next().is_some()
        {
            return None;
        }
        // response-value = 32LHEX.
        let response = r.response.as_deref()?;
        if response.len() != 32
            || !response
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }

        // "user" or "user@realm".
        let (account, password) = users.iter().find(|(u, _)| *u == username).or_else(|| {
            let (local, domain) = username.rsplit_once('@')?;
            if domain != REALM && domain != realm {
                return None;
            }
            users.iter().find(|(u, _)| u == local)
        })?;

        // A1 = { H( { username-value, ":", realm-value, ":", passwd } ),
        //        ":", nonce-value, ":", cnonce-value [ ":", authzid-value ] }
        let mut urp = Md5::new();
        urp.update(hash_octets(&username, utf8)?);
        urp.update(b":");
        urp.update(hash_octets(&realm, utf8)?);
        urp.update(b":");
        urp.update(hash_octets(password, utf8)?);
        let mut a1 = Md5::new();
        a1.update(urp.finalize());
        a1.update(b":");
        a1.update(nonce_sent);
        a1.update(b":");
        a1.update(cnonce);
        if let Some(authzid) = &r.authzid {
            a1.update(b":");
            a1.update(authzid);
        }
        let ha1 = hex(&a1.finalize());

        let mut a2 = b"AUTHENTICATE:".to_vec();
        a2.extend_from_slice(digest_uri);
        let expected = kd(&ha1, nonce_sent, nc, cnonce, qop, &a2);
        if !ct_eq(expected.as_bytes(), response) {
            return None;
        }
        let mut a2 = b":".to_vec();
        a2.extend_from_slice(digest_uri);
        let rspauth = kd(&ha1, nonce_sent, nc, cnonce, qop, &a2);
        Some((account.clone(), rspauth))
    }
}

/// NTLM (MS-NLMP), server side, connection-oriented: NEGOTIATE_MESSAGE in,
/// CHALLENGE_MESSAGE out, AUTHENTICATE_MESSAGE verified (NTLMv2, or
/// NTLMv1 with or without extended session security). No signing,
/// sealing or key exchange is offered: SMTP uses none.
mod ntlm {
    use des::Des;
    use des::cipher::{Array, BlockCipherEncrypt, KeyInit};
    use md4::Md4;
    use md5::{Digest, Md5};

    use super::{ct_eq, hmac_md5};

    const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

    /// NegotiateFlags (MS-NLMP §2.2.2.5).
    pub(super) mod flags {
        pub(crate) const UNICODE: u32 = 0x0000_0001;
        pub(crate) const OEM: u32 = 0x0000_0002;
        pub(crate) const REQUEST_TARGET: u32 = 0x0000_0004;
        pub(crate) const NTLM: u32 = 0x0000_0200;
        pub(crate) const OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
        pub(crate) const OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;
        pub(crate) const ALWAYS_SIGN: u32 = 0x0000_8000;
        pub(crate) const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
        pub(crate) const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
        pub(crate) const TARGET_INFO: u32 = 0x0080_0000;
        pub(crate) const VERSION: u32 = 0x0200_0000;
        pub(crate) const N128: u32 = 0x2000_0000;
        pub(crate) const KEY_EXCH: u32 = 0x4000_0000;
        pub(crate) const N56: u32 = 0x8000_0000;
    }

    /// AvId values (MS-NLMP §2.2.2.1).
    const MSV_AV_EOL: u16 = 0;
    const MSV_AV_NB_COMPUTER_NAME: u16 = 1;
    const MSV_AV_NB_DOMAIN_NAME: u16 = 2;
    const MSV_AV_DNS_DOMAIN_NAME: u16 = 4;
    const MSV_AV_FLAGS: u16 = 6;
    const MSV_AV_TIMESTAMP: u16 = 7;
    /// MsvAvFlags bit: the AUTHENTICATE_MESSAGE carries a MIC.
    const AV_FLAG_MIC: u32 = 0x0000_0002;

    /// The target (domain) name.
    pub(super) const TARGET_NAME: &str = "TESTKIT";
    const COMPUTER_NAME: &str = "TESTKIT-SMTP";
    const DNS_DOMAIN_NAME: &str = "testkit.invalid";
    /// VERSION (§2.2.2.10): 6.1 build 7601, NTLMSSP_REVISION_W2K3.
    const VERSION: [u8; 8] = [6, 1, 0xb1, 0x1d, 0, 0, 0, 0x0f];

    /// 100 ns intervals from 1601-01-01 to 1970-01-01.
    const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

    /// The state between CHALLENGE_MESSAGE and AUTHENTICATE_MESSAGE.
    pub(super) struct Pending {
        /// The client's NEGOTIATE_MESSAGE (for a MIC).
        pub(super) negotiate: Vec<u8>,
        /// The CHALLENGE_MESSAGE sent.
        pub(super) challenge: Vec<u8>,
        pub(super) server_challenge: [u8; 8],
        /// The flags the CHALLENGE_MESSAGE carried.
        pub(super) flags: u32,
    }

    /// Now as a FILETIME (100 ns since 1601).
    pub(super) fn now_filetime() -> u64 {
        let since_1970 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos() / 100).unwrap_or(u64::MAX));
        since_1970.saturating_add(FILETIME_UNIX_EPOCH)
    }

    fn u16_at(m: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(*m.get(at..)?.first_chunk::<2>()?))
    }

    fn u32_at(m: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(*m.get(at..)?.first_chunk::<4>()?))
    }

    /// The payload the security buffer (Len, MaxLen, BufferOffset) at `at`
    /// describes, `None` when it lies outside the message. An empty
    /// buffer's offset is not looked at.
    fn field(m: &[u8], at: usize) -> Option<&[u8]> {
        let len = usize::from(u16_at(m, at)?);
        let offset = usize::try_from(u32_at(m, at.checked_add(4)?)?).ok()?;
        if len == 0 {
            return Some(&[]);
        }
        m.get(offset..offset.checked_add(len)?)
    }

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// An AUTHENTICATE_MESSAGE string: UTF-16LE when UNICODE was
    /// negotiated, else OEM (taken as ISO 8859-1).
    fn decode(octets: &[u8], unicode: bool) -> Option<String> {
        if !unicode {
            return Some(octets.iter().copied().map(char::from).collect());
        }
        if !octets.len().is_multiple_of(2) {
            return None;
        }
        let units = octets.chunks_exact(2);
        char::decode_utf16(units.map(|u| u16::from_le_bytes([u[0], u[1]])))
            .collect::<Result<String, _>>()
            .ok()
    }

    fn av_pair(out: &mut Vec<u8>, id: u16, value: &[u8]) -> Option<()> {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&u16::try_from(value.len()).ok()?.to_le_bytes());
        out.extend_from_slice(value);
        Some(())
    }

    /// Answers a NEGOTIATE_MESSAGE (§2.2.1.1) with a CHALLENGE_MESSAGE
    /// (§2.2.1.2, §3.2.5.1.1); `None` if it is malformed or asks for
    /// neither Unicode nor OEM strings, or not for NTLM.
    pub(super) fn challenge(
        negotiate: &[u8],
        server_challenge: [u8; 8],
        timestamp: u64,
    ) -> Option<Pending> {
        if !negotiate.starts_with(SIGNATURE) || u32_at(negotiate, 8)? != 1 {
            return None;
        }
        let client = u32_at(negotiate, 12)?;
        // DomainNameFields and WorkstationFields (absent in the shortest,
        // 16-octet form) must lie inside the message when supplied.
        if negotiate.len() >= 32 {
            if client & flags::OEM_DOMAIN_SUPPLIED != 0 {
                field(negotiate, 16)?;
            }
            if client & flags::OEM_WORKSTATION_SUPPLIED != 0 {
                field(negotiate, 24)?;
            }
        }
        // §2.2.2.5: NTLM MUST be set in the NEGOTIATE_MESSAGE.
        if client & flags::NTLM == 0 {
            return None;
        }
        let mut f = flags::NTLM
            | flags::REQUEST_TARGET
            | flags::TARGET_TYPE_DOMAIN
            // TargetInfo is always populated (NTLMv2 needs it).
            | flags::TARGET_INFO;
        if client & flags::UNICODE != 0 {
            f |= flags::UNICODE;
        } else if client & flags::OEM != 0 {
            f |= flags::OEM;
        } else {
            return None;
        }
        f |= client
            & (flags::EXTENDED_SESSIONSECURITY
                | flags::ALWAYS_SIGN
                | flags::N128
                | flags::N56
                | flags::VERSION);

        let target_name = if f & flags::UNICODE != 0 {
            utf16le(TARGET_NAME)
        } else {
            TARGET_NAME.as_bytes().to_vec()
        };
        let mut info = Vec::new();
        av_pair(&mut info, MSV_AV_NB_DOMAIN_NAME, &utf16le(TARGET_NAME))?;
        av_pair(&mut info, MSV_AV_NB_COMPUTER_NAME, &utf16le(COMPUTER_NAME))?;
        av_pair(&mut info, MSV_AV_DNS_DOMAIN_NAME, &utf16le(DNS_DOMAIN_NAME))?;
        av_pair(&mut info, MSV_AV_TIMESTAMP, &timestamp.to_le_bytes())?;
        av_pair(&mut info, MSV_AV_EOL, &[])?;

        let header = if f & flags::VERSION != 0 { 56 } else { 48 };
        let name_len = u16::try_from(target_name.len()).ok()?;
        let info_len = u16::try_from(info.len()).ok()?;
        let name_offset = u32::try_from(header).ok()?;
        let info_offset = name_offset.checked_add(u32::from(name_len))?;
        let mut m = Vec::with_capacity(header + target_name.len() + info.len());
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&name_len.to_le_bytes());
        m.extend_from_slice(&name_len.to_le_bytes());
        m.extend_from_slice(&name_offset.to_le_bytes());
        m.extend_from_slice(&f.to_le_bytes());
        m.extend_from_slice(&server_challenge);
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&info_len.to_le_bytes());
        m.extend_from_slice(&info_len.to_le_bytes());
        m.extend_from_slice(&info_offset.to_le_bytes());
        if f & flags::VERSION != 0 {
            m.extend_from_slice(&VERSION);
        }
        m.extend_from_slice(&target_name);
        m.extend_from_slice(&info);
        Some(Pending {
            negotiate: negotiate.to_vec(),
            challenge: m,
            server_challenge,
            flags: f,
        })
    }

    /// NTOWFv1 (§3.3.1): MD4(UNICODE(password)).
    fn nt_owf_v1(password: &str) -> [u8; 16] {
        Md4::digest(utf16le(password)).into()
    }

    /// Upper case as Windows does it: one UTF-16 unit stays one (a
    /// character whose upper case is longer is kept).
    fn upper(s: &str) -> String {
        s.chars()
            .map(|c| {
                let mut u = c.to_uppercase();
                match (u.next(), u.next()) {
                    (Some(x), None) => x,
                    _ => c,
                }
            })
            .collect()
    }

    /// NTOWFv2 (§3.3.2): HMAC_MD5(NTOWFv1(password),
    /// UNICODE(Uppercase(user) || domain)).
    fn nt_owf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
        let mut identity = utf16le(&upper(user));
        identity.extend_from_slice(&utf16le(domain));
        hmac_md5(&nt_owf_v1(password), &[&identity])
    }

    /// DES-ECB of one block under a 56-bit key (seven octets, spread over
    /// eight with the parity bits left zero, which DES ignores).
    fn des(key7: &[u8], block: [u8; 8]) -> [u8; 8] {
        let bits = key7
            .iter()
            .take(7)
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let key: [u8; 8] = std::array::from_fn(|i| {
            // Seven bits per octet, most significant first.
            let shift = 49 - 7 * i;
            ((bits >> shift) as u8 & 0x7f) << 1
        });
        let cipher = Des::new(&Array(key));
        let mut block = Array(block);
        cipher.encrypt_block(&mut block);
        block.0
    }

    /// DESL (§6): DES under each seven octets of K || Z(5).
    fn desl(key: &[u8; 16], data: [u8; 8]) -> [u8; 24] {
        let mut k = [0u8; 21];
        k[..16].copy_from_slice(key);
        let mut out = [0u8; 24];
        for (chunk, key7) in out.chunks_exact_mut(8).zip(k.chunks_exact(7)) {
            chunk.copy_from_slice(&des(key7, data));
        }
        out
    }

    /// Walks NTLMv2 client-challenge AV pairs up to MsvAvEOL, every pair
    /// bounds-checked: the MsvAvFlags value (0 when absent), or `None`
    /// when malformed or unterminated.
    fn av_flags(info: &[u8]) -> Option<u32> {
        let mut pos = 0usize;
        let mut av_flags = 0;
        loop {
            let id = u16_at(info, pos)?;
            let len = usize::from(u16_at(info, pos.checked_add(2)?)?);
            let start = pos.checked_add(4)?;
            let end = start.checked_add(len)?;
            let value = info.get(start..end)?;
            match id {
                MSV_AV_EOL => return Some(av_flags),
                MSV_AV_FLAGS => av_flags = u32::from_le_bytes(*value.first_chunk::<4>()?),
                _ => {}
            }
            pos = end;
        }
    }

    /// Verifies an AUTHENTICATE_MESSAGE (§2.2.1.3, §3.2.5.1.2) against
    /// `users`: the authenticated user (as the script names it), or
    /// `None`.
    pub(super) fn verify(
        users: &[(String, String)],
        pending: &Pending,
        message: &[u8],
    ) -> Option<String> {
        if message.len() < 64 || !message.starts_with(SIGNATURE) || u32_at(message, 8)? != 3 {
            return None;
        }
        let lm = field(message, 12)?;
        let nt = field(message, 20)?;
        let domain = field(message, 28)?;
        let user = field(message, 36)?;
        field(message, 44)?; // Workstation
        field(message, 52)?; // EncryptedRandomSessionKey
        let f = u32_at(message, 60)?;

        // Strings as negotiated in the CHALLENGE_MESSAGE.
        let unicode = pending.flags & flags::UNICODE != 0;
        if unicode != (f & flags::UNICODE != 0) {
            return None;
        }
        let domain = decode(domain, unicode)?;
        let user = decode(user, unicode)?;
        // Anonymous (empty user name) is not offered.
        if user.is_empty() {
            return None;
        }
        let (account, password) = users.iter().find(|(u, _)| *u == user)?;
        let sc = pending.server_challenge;

        if nt.len() == 24 {
            // NTLMv1 (§3.3.1); the flags must agree on extended session
            // security, which changes the response.
            let ess = pending.flags & flags::EXTENDED_SESSIONSECURITY != 0;
            if ess != (f & flags::EXTENDED_SESSIONSECURITY != 0) {
                return None;
            }
            let key = nt_owf_v1(password);
            let expected = if ess {
                // LmChallengeResponse = ClientChallenge || Z(16).
                let (client_challenge, zeros) = lm.split_first_chunk::<8>()?;
                if zeros != [0; 16] {
                    return None;
                }
                let digest: [u8; 16] = Md5::new()
                    .chain_update(sc)
                    .chain_update(client_challenge)
                    .finalize()
                    .into();
                desl(&key, *digest.first_chunk::<8>()?)
            } else {
                desl(&key, sc)
            };
            return ct_eq(nt, &expected).then(|| account.clone());
        }

        // NTLMv2 (§3.3.2): NTProofStr || temp, temp = 1, 1, Z(6), Time,
        // ClientChallenge, Z(4), AV pairs ending in MsvAvEOL, padding.
        let (proof, blob) = nt.split_first_chunk::<16>()?;
        if blob.len() < 28 || blob.first_chunk::<2>() != Some(&[1, 1]) {
            return None;
        }
        let av_flags = av_flags(blob.get(28..)?)?;
        let key = nt_owf_v2(password, &user, &domain);
        let expected = hmac_md5(&key, &[&sc, blob]);
        if !ct_eq(proof, &expected) {
            return None;
        }
        // LmChallengeResponse: absent, Z(24) (§3.3.2 with MsvAvTimestamp),
        // or a correct LMv2 response.
        if !lm.is_empty() && lm != [0; 24] {
            let (lm_proof, client_challenge) = lm.split_first_chunk::<16>()?;
            if client_challenge.len() != 8
                || !ct_eq(lm_proof, &hmac_md5(&key, &[&sc, client_challenge]))
            {
                return None;
            }
        }
        if av_flags & AV_FLAG_MIC != 0 {
            // MIC (§3.2.5.1.2) = HMAC_MD5(ExportedSessionKey, NEGOTIATE ||
            // CHALLENGE || AUTHENTICATE with the MIC zeroed), at 72 (after
            // the Version). Without key exchange (never offered here) the
            // exported key is the SessionBaseKey, HMAC_MD5(key, NTProofStr).
            if f & flags::KEY_EXCH != 0 {
                return None;
            }
            let mic = message.get(72..88)?;
            let mut zeroed = message.to_vec();
            zeroed.get_mut(72..88)?.fill(0);
            let session_key = hmac_md5(&key, &[proof]);
            let expected = hmac_md5(
                &session_key,
                &[&pending.negotiate, &pending.challenge, &zeroed],
            );
            if !ct_eq(mic, &expected) {
                return None;
            }
        }
        Some(account.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn users(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
            .collect()
    }

    /// A tiny xorshift generator: deterministic hostile input.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect()
    }

    // RFC 2831 §4, the IMAP example.
    const RFC_NONCE: &str = "OA6MG9tEQGm2hh";
    const RFC_RESPONSE: &[u8] = b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
        nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
        digest-uri=\"imap/elwood.innosoft.com\",\
        response=d388dad90d4bbd760a152321f2143af7,qop=auth";

    #[test]
    fn digest_md5_rfc2831_examples() {
        let chris = users(&[("chris", "secret")]);
        assert_eq!(
            digest_md5::verify(&chris, RFC_NONCE, "imap", RFC_RESPONSE),
            Some((
                "chris".to_owned(),
                "ea40f60335c427b5527b84dbabcdfffd".to_owned()
            ))
        );
        // The ACAP example, with LWS and a folded line.
        let acap = b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\r\n \
            nonce=\"OA9BSXrbuRhWay\",nc=00000001,cnonce=\"OA9BSuZWMSpW8m\",\
            digest-uri=\"acap/elwood.innosoft.com\",\
            response=6084c6db3fede7352c551284490fd0fc,qop=auth";
        assert_eq!(
            digest_md5::verify(&chris, "OA9BSXrbuRhWay", "acap", acap),
            Some((
                "chris".to_owned(),
                "2f0b3d7c3c2e486600ef710726aa2eae".to_owned()
            ))
        );
        // The wrong service, password, nonce or a tampered response.
        assert!(digest_md5::verify(&chris, RFC_NONCE, "smtp", RFC_RESPONSE).is_none());
        let wrong = users(&[("chris", "Secret")]);
        assert!(digest_md5::verify(&wrong, RFC_NONCE, "imap", RFC_RESPONSE).is_none());
        assert!(digest_md5::verify(&chris, "OA6MG9tEQGm2hi", "imap", RFC_RESPONSE).is_none());
        let tampered = String::from_utf8_lossy(RFC_RESPONSE).replace("d388", "d389");
        assert!(digest_md5::verify(&chris, RFC_NONCE, "imap", tampered.as_bytes()).is_none());
    }

    #[test]
    fn digest_md5_exchange() {
        let alice = users(&[("alice", "pw")]);
        let response = digest_response("alice", Some("testkit.invalid"), "pw", "");
        let (_, rspauth) = digest_md5::verify(&alice, "n0nce", "smtp", &response).unwrap();
        let mut exchange = Exchange {
            mech: Mech::DigestMd5 {
                nonce: "n0nce".to_owned(),
                stage: DigestStage::Start,
            },
            users: alice.clone(),
            counter: 1,
            channel: Channel::default(),
        };
        let Step::Challenge(c) = exchange.first_challenge() else {
            panic!("no challenge")
        };
        assert_eq!(
            c,
            b"realm=\"testkit.invalid\",nonce=\"n0nce\",qop=\"auth\",charset=utf-8,\
              algorithm=md5-sess"
        );
        let Step::Challenge(second) = exchange.step(&response) else {
            panic!("refused")
        };
        assert_eq!(second, format!("rspauth={rspauth}").into_bytes());
        assert!(matches!(exchange.step(b""), Step::Success(u) if u == "alice"));

        // Anything but an empty response after rspauth fails.
        let mut exchange = Exchange {
            mech: Mech::DigestMd5 {
                nonce: "n0nce".to_owned(),
                stage: DigestStage::Challenged,
            },
            users: alice.clone(),
            counter: 1,
            channel: Channel::default(),
        };
        assert!(matches!(exchange.step(&response), Step::Challenge(_)));
        assert!(matches!(exchange.step(b"x"), Step::Failure));
        assert!(matches!(exchange.step(b""), Step::Failure));
        // A wrong password fails at once.
        let mut exchange = Exchange {
            mech: Mech::DigestMd5 {
                nonce: "n0nce".to_owned(),
                stage: DigestStage::Challenged,
            },
            users: users(&[("alice", "other")]),
            counter: 1,
            channel: Channel::default(),
        };
        assert!(matches!(exchange.step(&response), Step::Failure));

        // Through start: a fresh nonce each time, an initial response other
        // than empty refused.
        let u = users(&[("alice", "pw")]);
        let (_, Step::Challenge(a)) =
            Exchange::start("DIGEST-MD5", None, &u, 1, &Channel::default()).unwrap()
        else {
            panic!()
        };
        let (_, Step::Challenge(b)) =
            Exchange::start("DIGEST-MD5", Some(vec![]), &u, 1, &Channel::default()).unwrap()
        else {
            panic!()
        };
        assert_ne!(a, b);
        assert!(matches!(
            Exchange::start(
                "DIGEST-MD5",
                Some(b"username=x".to_vec()),
                &u,
                1,
                &Channel::default()
            ),
            Some((_, Step::Failure))
        ));
    }

    /// A digest-response computed here (per RFC 2831 §2.1.2.1) for the
    /// checks on directive handling.
    fn digest_response(user: &str, realm: Option<&str>, password: &str, extra: &str) -> Vec<u8> {
        use md5::Digest;
        let nonce = "n0nce";
        let cnonce = "c\"n";
        let uri = "smtp/mx.example";
        let latin1 = |s: &str| -> Vec<u8> { s.chars().map(|c| c as u8).collect() };
        let mut urp = latin1(user);
        urp.push(b':');
        urp.extend(latin1(realm.unwrap_or("")));
        urp.push(b':');
        urp.extend(latin1(password));
        let mut a1 = md5::Md5::digest(&urp).to_vec();
        a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
        let ha1 = hex(&md5::Md5::digest(&a1));
        let ha2 = hex(&md5::Md5::digest(format!("AUTHENTICATE:{uri}")));
        let response = hex(&md5::Md5::digest(format!(
            "{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"
        )));
        let realm = realm.map_or(String::new(), |r| format!("realm=\"{r}\","));
        format!(
            "charset=utf-8,username=\"{user}\",{realm}nonce=\"{nonce}\",nc=00000001,\
             cnonce=\"c\\\"n\",digest-uri=\"{uri}\",response={response},qop=auth{extra}"
        )
        .into_bytes()
    }

    #[test]
    fn digest_md5_directives() {
        let u = users(&[("alice", "p\u{e9}ss")]);
        let ok = |r: &[u8]| digest_md5::verify(&u, "n0nce", "smtp", r).map(|(user, _)| user);
        let alice = Some("alice".to_owned());
        // With the realm, without it, and the user name with the realm.
        assert_eq!(
            ok(&digest_response(
                "alice",
                Some("testkit.invalid"),
                "p\u{e9}ss",
                ""
            )),
            alice
        );
        assert_eq!(ok(&digest_response("alice", None, "p\u{e9}ss", "")), alice);
        assert_eq!(
            ok(&digest_response(
                "alice@testkit.invalid",
                Some("testkit.invalid"),
                "p\u{e9}ss",
                ""
            )),
            alice
        );
        assert_eq!(
            ok(&digest_response("alice@other", None, "p\u{e9}ss", "")),
            None
        );
        assert_eq!(ok(&digest_response("bob", None, "p\u{e9}ss", "")), None);
        assert_eq!(ok(&digest_response("alice", None, "pess", "")), None);
        // Unknown directives are ignored; repeated, wrong or extra ones fail.
        assert_eq!(
            ok(&digest_response("alice", None, "p\u{e9}ss", ",x-y=\"z\"")),
            alice
        );
        assert_eq!(
            ok(&digest_response("alice", None, "p\u{e9}ss", ",maxbuf=1024")),
            alice
        );
        for extra in [
            ",qop=auth",
            ",nc=00000001",
            ",cipher=rc4",
            ",charset=utf-8",
            ",a",
            ",=",
        ] {
            assert_eq!(
                ok(&digest_response("alice", None, "p\u{e9}ss", extra)),
                None,
                "{extra}"
            );
        }
        let good = String::from_utf8(digest_response("alice", None, "p\u{e9}ss", "")).unwrap();
        for (from, to) in [
            ("nc=00000001", "nc=00000002"),
            ("nc=00000001", "nc=0000001"),
            ("qop=auth", "qop=auth-int"),
            ("charset=utf-8", "charset=latin1"),
            ("smtp/mx.example", "imap/mx.example"),
            ("smtp/mx.example", "smtp/"),
            ("smtp/mx.example", "smtp/mx.example/"),
            ("smtp/mx.example", "smtp/mx.example/a/b"),
            ("cnonce=\"c\\\"n\"", "cnonce=\"\""),
            ("nonce=\"n0nce\"", "nonce=\"n0nc\""),
        ] {
            let bad = good.replace(from, to);
            assert_ne!(bad, good);
            assert_eq!(ok(bad.as_bytes()), None, "{bad}");
        }
        // The response in upper case is not LHEX.
        let upper = good.replace(
            &good[good.find("response=").unwrap()..][..41],
            &good[good.find("response=").unwrap()..][..41].to_ascii_uppercase(),
        );
        assert_eq!(ok(upper.as_bytes()), None);
        // Without charset the strings are ISO 8859-1 octets.
        let latin1: Vec<u8> = good
            .replace("charset=utf-8,", "")
            .chars()
            .map(|c| c as u8)
            .collect();
        assert_eq!(ok(&latin1), alice);
    }

    #[test]
    fn digest_md5_parser() {
        let d = digest_md5::directives(b" ,, a = \"x\\\"y\\\\\" ,\tb=tok,,c=\"\"").unwrap();
        let d: Vec<(&[u8], &[u8])> = d.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        assert_eq!(
            d,
            [(&b"a"[..], &b"x\"y\\"[..]), (b"b", b"tok"), (b"c", b"")]
        );
        for bad in [
            &b"a"[..],
            b"a=",
            b"=b",
            b"a=\"x",
            b"a=\"x\\",
            b"a=\"x\" y",
            b"a=b c",
            b"a=\"\x01\"",
            b"a=\"\\\xff\"",
            b"a=b/c",
        ] {
            assert!(digest_md5::directives(bad).is_none(), "{bad:?}");
        }
        assert_eq!(digest_md5::directives(b"").unwrap().len(), 0);
    }

    #[test]
    fn digest_md5_hostile_input() {
        let u = users(&[("chris", "secret")]);
        // Every prefix but those that only drop the optional qop (the
        // trailing comma is an empty list element).
        let qop = RFC_RESPONSE.len() - b",qop=auth".len();
        for n in 0..RFC_RESPONSE.len() {
            let verified = digest_md5::verify(&u, RFC_NONCE, "imap", &RFC_RESPONSE[..n]);
            assert_eq!(verified.is_some(), n == qop || n == qop + 1, "{n}");
        }
        for seed in 0..2000u64 {
            let mut input = RFC_RESPONSE.to_vec();
            let n = usize::try_from(seed).unwrap() % input.len();
            input.splice(n..n, noise(seed, usize::try_from(seed % 7).unwrap()));
            let _ = digest_md5::verify(&u, RFC_NONCE, "imap", &input);
            let _ = digest_md5::verify(&u, RFC_NONCE, "imap", &noise(seed, 64));
        }
        let mut huge = RFC_RESPONSE.to_vec();
        huge.extend_from_slice(b",x=\"");
        huge.resize(5000, b'a');
        huge.push(b'"');
        assert!(digest_md5::verify(&u, RFC_NONCE, "imap", &huge).is_none());
    }

    // MS-NLMP §4.2.1: the common values.
    const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

    fn pending(flags: u32) -> ntlm::Pending {
        ntlm::Pending {
            negotiate: Vec::new(),
            challenge: Vec::new(),
            server_challenge: SERVER_CHALLENGE,
            flags,
        }
    }

    fn spec_users() -> Vec<(String, String)> {
        users(&[("User", "Password")])
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// An AUTHENTICATE_MESSAGE: header, then the payloads in order.
    fn authenticate(
        flags: u32,
        lm: &[u8],
        nt: &[u8],
        domain: &[u8],
        user: &[u8],
        tail: &[u8],
    ) -> Vec<u8> {
        let mut m = b"NTLMSSP\0\x03\0\0\0".to_vec();
        let mut offset = 64 + tail.len();
        let mut payload = Vec::new();
        let mut fields = Vec::new();
        for p in [lm, nt, domain, user, b"WS".as_slice(), &[]] {
            let len = u16::try_from(p.len()).unwrap();
            fields.extend_from_slice(&len.to_le_bytes());
            fields.extend_from_slice(&len.to_le_bytes());
            fields.extend_from_slice(&u32::try_from(offset).unwrap().to_le_bytes());
            offset += p.len();
            payload.extend_from_slice(p);
        }
        m.extend_from_slice(&fields);
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(tail);
        m.extend_from_slice(&payload);
        m
    }

    const UNICODE_NTLM: u32 = ntlm::flags::UNICODE | ntlm::flags::NTLM;

    #[test]
    fn ntlm_v1_spec_4_2_2() {
        // §4.2.2.2.1: NTLMv1 response, no extended session security.
        let nt = unhex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94");
        let m = authenticate(
            UNICODE_NTLM,
            &nt,
            &nt,
            &utf16("Domain"),
            &utf16("User"),
            &[],
        );
        let p = pending(UNICODE_NTLM);
        assert_eq!(ntlm::verify(&spec_users(), &p, &m).as_deref(), Some("User"));
        assert!(ntlm::verify(&users(&[("User", "password")]), &p, &m).is_none());
        // The flags must agree on extended session security.
        let ess = UNICODE_NTLM | ntlm::flags::EXTENDED_SESSIONSECURITY;
        assert!(ntlm::verify(&spec_users(), &pending(ess), &m).is_none());
        // And on Unicode.
        let m = authenticate(
            ntlm::flags::OEM | ntlm::flags::NTLM,
            &nt,
            &nt,
            b"Domain",
            b"User",
            &[],
        );
        assert!(ntlm::verify(&spec_users(), &p, &m).is_none());
        let oem = ntlm::flags::OEM | ntlm::flags::NTLM;
        assert_eq!(
            ntlm::verify(&spec_users(), &pending(oem), &m).as_deref(),
            Some("User")
        );
    }

    #[test]
    fn ntlm_v1_spec_4_2_3() {
        // §4.2.3.3: the AUTHENTICATE_MESSAGE with NTLM2 session response,
        // verbatim, against its CHALLENGE_MESSAGE's flags.
        let m = unhex(
            "4e544c4d5353500003000000180018006c00000018001800840000000c000c00
             480000000800080054000000100010005c000000000000009c00000035820882
             0501280a0000000f44006f006d00610069006e00550073006500720043004f00
             4d0050005500540045005200aaaaaaaaaaaaaaaa000000000000000000000000
             000000007537f803ae367128ca458204bde7caf81e97ed2683267232",
        );
        let p = pending(0x820a_8233);
        assert_eq!(ntlm::verify(&spec_users(), &p, &m).as_deref(), Some("User"));
        // A different client challenge in the LM field changes the answer.
        let mut changed = m.clone();
        changed[0x84] ^= 1;
        assert!(ntlm::verify(&spec_users(), &p, &changed).is_none());
        assert!(ntlm::verify(&spec_users(), &pending(0x8202_8233), &m).is_none());
    }

    /// §4.2.4.1.3's target information (MsvAvNbDomainName "Domain",
    /// MsvAvNbComputerName "Server", MsvAvEOL).
    const SPEC_AUTHENTICATE_V2: &str = "
        4e544c4d5353500003000000180018006c00000054005400840000000c000c00
        480000000800080054000000100010005c00000010001000d8000000358288e2
        0501280a0000000f44006f006d00610069006e00550073006500720043004f00
        4d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaa
        aaaaaaaa68cd0ab851e51c96aabc927bebef6a1c010100000000000000000000
        00000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00
        01000c005300650072007600650072000000000000000000c5dad2544fc97990
        94ce1ce90bc9d03e";

    #[test]
    fn ntlm_v2_spec_4_2_4() {
        // §4.2.4.3: the AUTHENTICATE_MESSAGE, verbatim.
        let m = unhex(SPEC_AUTHENTICATE_V2);
        let p = pending(0xe28a_8233);
        assert_eq!(ntlm::verify(&spec_users(), &p, &m).as_deref(), Some("User"));
        assert!(ntlm::verify(&users(&[("User", "Passwort")]), &p, &m).is_none());
        assert!(ntlm::verify(&users(&[("user", "Password")]), &p, &m).is_none());
        // A flipped bit anywhere in the NT response, or in the LMv2
        // response, or another domain.
        for at in [0x84, 0x94, 0xa0, 0xc0, 0x6c, 0x7c] {
            let mut changed = m.clone();
            changed[at] ^= 1;
            assert!(
                ntlm::verify(&spec_users(), &p, &changed).is_none(),
                "{at:x}"
            );
        }
        // Z(24) for the LM response is fine (§3.3.2, MsvAvTimestamp).
        let mut zero_lm = m.clone();
        zero_lm[0x6c..0x84].fill(0);
        assert_eq!(
            ntlm::verify(&spec_users(), &p, &zero_lm).as_deref(),
            Some("User")
        );
        // The domain is part of the key: same answer for "DOMAIN"? No.
        let nt = m[0x84..0x84 + 0x54].to_vec();
        let other = authenticate(0xe28a_8233, &[], &nt, &utf16("DOMAIN"), &utf16("User"), &[]);
        assert!(ntlm::verify(&spec_users(), &p, &other).is_none());
        let same = authenticate(0xe28a_8233, &[], &nt, &utf16("Domain"), &utf16("User"), &[]);
        assert_eq!(
            ntlm::verify(&spec_users(), &p, &same).as_deref(),
            Some("User")
        );
    }

    #[test]
    fn ntlm_challenge_message() {
        // A NEGOTIATE_MESSAGE as the MS-NLMP examples' flags, with VERSION.
        let client = 0xe208_82b7u32;
        let mut negotiate = b"NTLMSSP\0\x01\0\0\0".to_vec();
        negotiate.extend_from_slice(&client.to_le_bytes());
        negotiate.extend_from_slice(&[0; 16]);
        negotiate.extend_from_slice(&[6, 1, 0, 0, 0, 0, 0, 15]);
        let p = ntlm::challenge(&negotiate, SERVER_CHALLENGE, 0x01d0_0000_0000_0000).unwrap();
        let m = &p.challenge;
        assert_eq!(&m[..12], b"NTLMSSP\0\x02\0\0\0");
        let flags = u32::from_le_bytes(m[20..24].try_into().unwrap());
        use ntlm::flags as f;
        for bit in [
            f::UNICODE,
            f::NTLM,
            f::EXTENDED_SESSIONSECURITY,
            f::TARGET_INFO,
            f::REQUEST_TARGET,
            f::VERSION,
        ] {
            assert_ne!(flags & bit, 0, "{bit:x}");
        }
        assert_eq!(flags & (f::OEM | f::KEY_EXCH), 0);
        assert_eq!(&m[24..32], &SERVER_CHALLENGE);
        let buffer = |at: usize| {
            let len = usize::from(u16::from_le_bytes([m[at], m[at + 1]]));
            let off =
                usize::try_from(u32::from_le_bytes(m[at + 4..at + 8].try_into().unwrap())).unwrap();
            m[off..off + len].to_vec()
        };
        assert_eq!(buffer(12), utf16("TESTKIT"));
        assert_eq!(u32::from_le_bytes(m[16..20].try_into().unwrap()), 56);
        let info = buffer(40);
        let mut expected = b"\x02\x00\x0e\x00".to_vec();
        expected.extend_from_slice(&utf16("TESTKIT"));
        assert!(info.starts_with(&expected));
        let mut timestamp = b"\x07\x00\x08\x00".to_vec();
        timestamp.extend_from_slice(&0x01d0_0000_0000_0000u64.to_le_bytes());
        timestamp.extend_from_slice(&[0; 4]);
        assert!(info.ends_with(&timestamp));
        assert_eq!(m.len(), 56 + 14 + info.len());

        // Without UNICODE nor VERSION: OEM name, 48-octet header.
        let mut oem = negotiate[..32].to_vec();
        oem[12..16].copy_from_slice(&(f::OEM | f::NTLM).to_le_bytes());
        let p = ntlm::challenge(&oem, SERVER_CHALLENGE, 0).unwrap();
        let flags = u32::from_le_bytes(p.challenge[20..24].try_into().unwrap());
        assert_eq!(
            flags & (f::UNICODE | f::OEM | f::EXTENDED_SESSIONSECURITY),
            f::OEM
        );
        assert_eq!(&p.challenge[48..55], b"TESTKIT");

        // Refused: no NTLM, neither charset, wrong type, bad buffers.
        for (flags, ty) in [(f::UNICODE, 1u8), (f::NTLM, 1), (UNICODE_NTLM, 3)] {
            let mut m = negotiate.clone();
            m[8] = ty;
            m[12..16].copy_from_slice(&flags.to_le_bytes());
            assert!(ntlm::challenge(&m, SERVER_CHALLENGE, 0).is_none());
        }
        let mut m = negotiate[..32].to_vec();
        m[12..16].copy_from_slice(&(UNICODE_NTLM | f::OEM_DOMAIN_SUPPLIED).to_le_bytes());
        m[16] = 4;
        m[20] = 32;
        assert!(ntlm::challenge(&m, SERVER_CHALLENGE, 0).is_none());
        m.extend_from_slice(b"CORPxxxx");
        assert!(ntlm::challenge(&m, SERVER_CHALLENGE, 0).is_some());
        for n in 0..16 {
            assert!(ntlm::challenge(&negotiate[..n], SERVER_CHALLENGE, 0).is_none());
        }
        assert!(ntlm::challenge(&negotiate[..16], SERVER_CHALLENGE, 0).is_some());
    }

    #[test]
    fn ntlm_exchange_and_mic() {
        use md5::Digest;
        let u = users(&[("alice", "pw")]);
        // No initial response: an empty challenge asks for the NEGOTIATE.
        let (mut exchange, step) =
            Exchange::start("NTLM", None, &u, 1, &Channel::default()).unwrap();
        assert!(matches!(step, Step::Challenge(c) if c.is_empty()));
        let mut negotiate = b"NTLMSSP\0\x01\0\0\0".to_vec();
        negotiate.extend_from_slice(&(UNICODE_NTLM | ntlm::flags::VERSION).to_le_bytes());
        negotiate.extend_from_slice(&[0; 16]);
        let Step::Challenge(challenge) = exchange.step(&negotiate) else {
            panic!("no challenge")
        };
        let server_challenge = &challenge[24..32];
        let info_len = usize::from(u16::from_le_bytes([challenge[40], challenge[41]]));
        let info = &challenge[challenge.len() - info_len..];

        // NTLMv2 with MsvAvFlags announcing a MIC, computed per §3.1.5.1.2.
        let key = hmac_md5(
            &md4::Md4::digest(utf16("pw")),
            &[&[utf16("ALICE"), utf16("Corp")].concat()],
        );
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&info[info.len() - 12..info.len() - 4]);
        blob.extend_from_slice(&[0xaa; 8]);
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&info[..info.len() - 4]);
        blob.extend_from_slice(b"\x06\x00\x04\x00\x02\x00\x00\x00\x00\x00\x00\x00");
        blob.extend_from_slice(&[0; 4]);
        let proof = hmac_md5(&key, &[server_challenge, &blob]);
        let nt = [proof.as_slice(), &blob].concat();
        let mut tail = vec![6, 1, 0, 0, 0, 0, 0, 15];
        tail.extend_from_slice(&[0; 16]);
        let build = |mic: &[u8; 16]| {
            let mut t = tail.clone();
            t[8..].copy_from_slice(mic);
            authenticate(
                UNICODE_NTLM,
                &[0; 24],
                &nt,
                &utf16("Corp"),
                &utf16("alice"),
                &t,
            )
        };
        let unsigned = build(&[0; 16]);
        let session_key = hmac_md5(&key, &[&proof]);
        let mic = hmac_md5(&session_key, &[&negotiate, &challenge, &unsigned]);
        let mut wrong = mic;
        wrong[0] ^= 1;
        let pending_of = |exchange: &Exchange| match &exchange.mech {
            Mech::Ntlm {
                stage: NtlmStage::Authenticate(p),
            } => ntlm::Pending {
                negotiate: p.negotiate.clone(),
                challenge: p.challenge.clone(),
                server_challenge: p.server_challenge,
                flags: p.flags,
            },
            _ => panic!("not waiting for AUTHENTICATE"),
        };
        let p = pending_of(&exchange);
        assert!(ntlm::verify(&u, &p, &build(&wrong)).is_none());
        assert!(ntlm::verify(&u, &p, &unsigned).is_none());
        assert!(matches!(exchange.step(&build(&mic)), Step::Success(u) if u == "alice"));
        // Nothing after.
        assert!(matches!(exchange.step(&negotiate), Step::Failure));
    }

    #[test]
    fn ntlm_hostile_input() {
        let m = unhex(SPEC_AUTHENTICATE_V2);
        let p = pending(0xe28a_8233);
        let u = spec_users();
        for n in 0..m.len() {
            assert!(ntlm::verify(&u, &p, &m[..n]).is_none(), "{n}");
        }
        // Security buffers pointing anywhere, with any length.
        for seed in 0..3000u64 {
            let mut bad = m.clone();
            let r = noise(seed, 8);
            let at = 12 + usize::from(r[0] % 6) * 8;
            bad[at..at + 2].copy_from_slice(&[r[1], r[2]]);
            if r[3] & 1 == 0 {
                bad[at + 4..at + 8].copy_from_slice(&r[4..8]);
            }
            let _ = ntlm::verify(&u, &p, &bad);
            // NT response's AV pairs mangled.
            let mut bad = m.clone();
            let at = 0x84 + 16 + 28 + usize::from(r[0]) % 40;
            bad[at] = r[1];
            let _ = ntlm::verify(&u, &p, &bad);
            let _ = ntlm::verify(&u, &p, &noise(seed, usize::from(r[2])));
            let mut header = b"NTLMSSP\0\x03\0\0\0".to_vec();
            header.extend_from_slice(&noise(seed, 52 + usize::from(r[3] % 64)));
            let _ = ntlm::verify(&u, &p, &header);
            let mut negotiate = b"NTLMSSP\0\x01\0\0\0".to_vec();
            negotiate.extend_from_slice(&noise(seed, usize::from(r[4] % 48)));
            let _ = ntlm::challenge(&negotiate, SERVER_CHALLENGE, 0);
        }
        // An NT response neither v1 nor v2, or an unterminated AV list.
        let short = authenticate(UNICODE_NTLM, &[], &[0; 30], &[], &utf16("User"), &[]);
        assert!(ntlm::verify(&u, &p, &short).is_none());
        let mut blob = vec![0u8; 16];
        blob.extend_from_slice(&[1, 1]);
        blob.resize(16 + 28, 0);
        blob.extend_from_slice(b"\x02\x00\x02\x00ab");
        let m = authenticate(UNICODE_NTLM, &[], &blob, &[], &utf16("User"), &[]);
        assert!(ntlm::verify(&u, &p, &m).is_none());
        // Odd-length UTF-16, anonymous.
        let m = authenticate(UNICODE_NTLM, &[], &[0; 24], &[], b"Use", &[]);
        assert!(ntlm::verify(&u, &p, &m).is_none());
        let m = authenticate(UNICODE_NTLM, &[0], &[], &[], &[], &[]);
        assert!(ntlm::verify(&u, &p, &m).is_none());
    }
}
