//! The server side of SMTP AUTH for the test server: PLAIN, LOGIN,
//! CRAM-MD5, XOAUTH2, OAUTHBEARER, ANONYMOUS, EXTERNAL, SCRAM-SHA-1 and
//! SCRAM-SHA-256, verified against the script's users. Written from the
//! RFCs independently of smtp-auth, so that a mistake in the client is not
//! mirrored here.

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
    Login { user: Option<String> },
    CramMd5 { challenge: Vec<u8> },
    Bearer { oauthbearer: bool, failed: bool },
    Anonymous,
    External,
    Scram { sha256: bool, state: ScramState },
}

enum ScramState {
    First,
    Final {
        user: String,
        client_first_bare: String,
        server_first: String,
        gs2_header: String,
        nonce: String,
        salted: Vec<u8>,
    },
    Verified {
        user: String,
    },
}

/// One AUTH exchange.
pub(crate) struct Exchange {
    mech: Mech,
    users: Vec<(String, String)>,
    counter: u64,
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
            "SCRAM-SHA-1" => Mech::Scram {
                sha256: false,
                state: ScramState::First,
            },
            "SCRAM-SHA-256" => Mech::Scram {
                sha256: true,
                state: ScramState::First,
            },
            _ => return None,
        };
        let mut exchange = Exchange {
            mech,
            users: users.to_vec(),
            counter,
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
        match &self.mech {
            Mech::Login { .. } => Step::Challenge(b"Username:".to_vec()),
            Mech::CramMd5 { challenge } => Step::Challenge(challenge.clone()),
            _ => Step::Challenge(Vec::new()),
        }
    }

    /// The client's next response (decoded from base64).
    pub(crate) fn step(&mut self, data: &[u8]) -> Step {
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
            Mech::Scram { sha256, state } => {
                let sha256 = *sha256;
                let counter = self.counter;
                match std::mem::replace(state, ScramState::First) {
                    ScramState::First => {
                        let Some((gs2, bare)) = split_gs2(&text) else {
                            return Step::Failure;
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
                        nonce,
                        salted,
                    } => {
                        let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
                            return Step::Failure;
                        };
                        let channel = format!("c={}", BASE64.encode(gs2_header.as_bytes()));
                        let expected_start = format!("{channel},r={nonce}");
                        if without_proof != expected_start {
                            return Step::Failure;
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
                }
            }
        }
    }
}

/// `n,,rest` or `n,a=authzid,rest`: the GS2 header (with its trailing
/// comma) and the rest.
fn split_gs2(text: &str) -> Option<(&str, &str)> {
    let first = text.find(',')?;
    let second = first + 1 + text[first + 1..].find(',')?;
    if !text.starts_with("n,") && !text.starts_with("y,") {
        return None;
    }
    Some((&text[..=second], &text[second + 1..]))
}
