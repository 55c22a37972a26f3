//! The authentication step of the session: where it sits (after TLS and
//! the EHLO that follows it, before any MAIL), the traits a SASL mechanism
//! implements ([`SaslMechanism`], [`Authenticator`]) and the errors.
//! `smtp-auth` implements the mechanisms and the chooser; the core only
//! drives them, so it links no cryptography. The base64 and `334` framing
//! (RFC 4954) live in the session.

/// Why a mechanism step failed on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The server's challenge is malformed or unusable.
    #[error("bad server challenge: {}", crate::escape_text(.0))]
    BadChallenge(String),
    /// The server could not prove it knows the password (SCRAM server
    /// signature, DIGEST-MD5 rspauth): it may be an impostor.
    #[error("server verification failed: {}", crate::escape_text(.0))]
    ServerVerification(String),
    /// The exchange went on longer than the mechanism allows.
    #[error("unexpected step: {0}")]
    UnexpectedStep(&'static str),
    /// The credentials cannot be used with this mechanism (for example a
    /// password SASLprep rejects).
    #[error("unusable credentials: {}", crate::escape_text(.0))]
    Credentials(String),
    /// The server sent an error (OAUTHBEARER's JSON error response).
    #[error("server error: {}", crate::escape_text(.0))]
    ServerError(String),
    /// The system random generator failed.
    #[error("no randomness: {0}")]
    Random(String),
    /// Channel binding failed: the server found that the client's binding
    /// does not match its own end of the TLS connection (a man in the
    /// middle, RFC 5802 `channel-bindings-dont-match`), or that the client
    /// claimed the server cannot bind when it can (a stripped mechanism
    /// list, `server-does-support-channel-binding`), or it does not know
    /// the binding type. The value is the server's RFC 5802 error.
    #[error("channel binding failed: {}", crate::escape_text(.0))]
    ChannelBinding(String),
}

/// One SASL client exchange.
pub trait SaslMechanism: Send {
    /// The mechanism name, upper-case.
    fn name(&self) -> &str;

    /// The initial response sent with `AUTH`, if the mechanism has one
    /// (`Some(vec![])` is an empty initial response).
    ///
    /// # Errors
    /// A [`SaslError`].
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError>;

    /// The response to a server challenge.
    ///
    /// # Errors
    /// A [`SaslError`], for a malformed challenge or a failed verification.
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError>;

    /// Called when the server says success; mechanisms that verify the
    /// server fail here if it never proved itself.
    ///
    /// # Errors
    /// [`SaslError::ServerVerification`].
    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }

    /// Whether the mechanism authenticates with an OAuth 2.0 bearer token
    /// (XOAUTH2, OAUTHBEARER): a refusal then says the token is no good
    /// ([`AuthError::TokenRefused`]), which a client with a token source
    /// answers by fetching a new one.
    fn carries_bearer_token(&self) -> bool {
        false
    }

    /// The error the server sent in a challenge before refusing, parsed
    /// ([`BearerError`]), for the mechanisms that carry a bearer token.
    fn bearer_error(&self) -> Option<BearerError> {
        None
    }
}

/// The error an OAuth 2.0 server sends as a SASL challenge before it
/// refuses a bearer token: RFC 7628 §3.2.2's JSON object
/// (`{"status":"invalid_token","scope":"…","openid-configuration":"…"}`),
/// which XOAUTH2 servers send too, with an HTTP status in `status`
/// (`{"status":"401","schemes":"bearer","scope":"…"}`).
///
/// Every field is the server's text: escape it before showing it
/// ([`Display`](std::fmt::Display) does).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BearerError {
    /// `status`: `invalid_token`, `insufficient_scope`, or an HTTP status
    /// such as `401` (XOAUTH2).
    pub status: String,
    /// `scope`: the scope the server wants.
    pub scope: Option<String>,
    /// `schemes` (XOAUTH2).
    pub schemes: Option<String>,
    /// `openid-configuration`: where the server's authorization server
    /// describes itself.
    pub openid_configuration: Option<String>,
}

impl BearerError {
    /// The most a challenge may hold: a JSON error is a few hundred bytes.
    const MAX_LEN: usize = 4096;

    /// Parses the (base64-decoded) challenge: a flat JSON object whose
    /// `status` is a string. `None` for anything else (a challenge that is
    /// not a JSON error, one nested deeper, one longer than 4 KiB).
    pub fn parse(challenge: &[u8]) -> Option<BearerError> {
        if challenge.len() > Self::MAX_LEN {
            return None;
        }
        let text = std::str::from_utf8(challenge).ok()?;
        let mut error = BearerError::default();
        let mut status = None;
        for (key, value) in flat_json_object(text)? {
            let Some(value) = value else { continue };
            match key.as_str() {
                "status" => status = Some(value),
                "scope" => error.scope = Some(value),
                "schemes" => error.schemes = Some(value),
                "openid-configuration" => error.openid_configuration = Some(value),
                _ => {}
            }
        }
        error.status = status?;
        Some(error)
    }

    /// Whether the server says the token itself is no good (expired,
    /// revoked, unknown): `invalid_token`, or XOAUTH2's `400`/`401`. Not
    /// `insufficient_scope`: a new token of the same scope would not help.
    pub fn is_invalid_token(&self) -> bool {
        matches!(self.status.as_str(), "invalid_token" | "400" | "401")
    }
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status {}", crate::escape_text(&self.status))?;
        if let Some(scope) = &self.scope {
            write!(f, ", scope {}", crate::escape_text(scope))?;
        }
        Ok(())
    }
}

/// The members of a flat JSON object, in order: string values as
/// `Some(text)`, numbers, `true`, `false` and `null` as `None`. `None` for
/// anything else, nested objects and arrays included (RFC 7628's error
/// has none).
fn flat_json_object(text: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut chars = text.trim().chars().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
    };
    let string = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<String> {
        if chars.next()? != '"' {
            return None;
        }
        let mut out = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = (0..4).map(|_| chars.next()).collect::<Option<_>>()?;
                        let code = u32::from_str_radix(&hex, 16).ok()?;
                        // A lone surrogate half cannot be a char: keep the
                        // text readable instead of failing the parse.
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    c @ ('"' | '\\' | '/') => out.push(c),
                    _ => return None,
                },
                c if c < ' ' => return None,
                c => out.push(c),
            }
        }
    };
    if chars.next()? != '{' {
        return None;
    }
    let mut members = Vec::new();
    skip_ws(&mut chars);
    if chars.next_if_eq(&'}').is_some() {
        return chars.next().is_none().then_some(members);
    }
    loop {
        skip_ws(&mut chars);
        let key = string(&mut chars)?;
        skip_ws(&mut chars);
        if chars.next()? != ':' {
            return None;
        }
        skip_ws(&mut chars);
        let value = if chars.peek() == Some(&'"') {
            Some(string(&mut chars)?)
        } else {
            let mut literal = String::new();
            while let Some(c) =
                chars.next_if(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
            {
                literal.push(c);
            }
            let number = literal.parse::<f64>().is_ok();
            if !(number || matches!(literal.as_str(), "true" | "false" | "null")) {
                return None;
            }
            None
        };
        members.push((key, value));
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            '}' => return chars.next().is_none().then_some(members),
            _ => return None,
        }
    }
}

/// Chooses and starts a mechanism for a connection. `smtp-auth`'s `Chooser` is
/// the standard one; implement this to replace the policy entirely.
pub trait Authenticator: Send + Sync {
    /// Picks a mechanism among `offered` (upper-case names from EHLO),
    /// knowing whether the connection is protected by TLS.
    ///
    /// # Errors
    /// A [`SelectError`].
    fn start(&self, offered: &[String], tls: bool) -> Result<Box<dyn SaslMechanism>, SelectError>;

    /// As [`start`](Self::start), with the TLS connection's
    /// channel-binding data when there is one (so that SCRAM-*-PLUS can be
    /// chosen). The session calls this; the default ignores the binding.
    ///
    /// # Errors
    /// A [`SelectError`].
    fn start_with_binding(
        &self,
        offered: &[String],
        tls: bool,
        binding: Option<&crate::ChannelBinding>,
    ) -> Result<Box<dyn SaslMechanism>, SelectError> {
        let _ = binding;
        self.start(offered, tls)
    }
}

/// Why no mechanism could be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// Nothing the server offers is configured, registered and enabled.
    #[error(
        "no usable authentication mechanism (server offers: {})",
        crate::escape_text(offered)
    )]
    NoUsableMechanism {
        /// The server's list, space-separated.
        offered: String,
    },
    /// The only usable mechanisms send the password in the clear and the
    /// connection has no TLS (allow it with `allow_plaintext`,
    /// `smtp-send --allow-plaintext-auth`).
    #[error("{mechanism} would send the password or token in the clear without TLS (not allowed)")]
    PlaintextRefused {
        /// The first such mechanism.
        mechanism: String,
    },
    /// The configuration names a mechanism that this build left out (it
    /// is behind a Cargo feature that is off).
    #[error("the {mechanism} mechanism is not built in: enable the `{feature}` feature")]
    NotBuiltIn {
        /// The mechanism.
        mechanism: String,
        /// The Cargo feature that adds it (of `smtpkit-auth`; the client
        /// crates have it too, or `legacy-auth` for all the legacy ones).
        feature: &'static str,
    },
}

/// Why authentication failed or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server offers no mechanism we may use (with what it offered).
    #[error(
        "no usable authentication mechanism (server offers: {})",
        crate::escape_text(offered)
    )]
    NoUsableMechanism {
        /// The server's AUTH list, space-separated.
        offered: String,
    },
    /// The server does not offer AUTH at all.
    #[error("the server does not offer AUTH")]
    NotOffered,
    /// The mechanism failed on the client side (bad challenge, bad server
    /// signature).
    #[error("{}: {error}", crate::escape_text(mechanism))]
    Mechanism {
        /// The mechanism.
        mechanism: String,
        /// What went wrong.
        error: SaslError,
    },
    /// The server refused the credentials (535, 534, 454, …).
    #[error("authentication failed: {reply}")]
    Rejected {
        /// The server's reply.
        reply: crate::Reply,
    },
    /// The server refused an OAuth 2.0 bearer token (XOAUTH2,
    /// OAUTHBEARER) with a 5xx reply: the token is expired, revoked or
    /// unknown, or lacks a scope (`error` says which when the server sent
    /// its JSON error first). A client with a token source fetches a new
    /// token once; a refusal of the new token is final. A 4xx refusal is
    /// [`Rejected`](Self::Rejected): the server could not check the token
    /// just now.
    #[error("the server refused the {} token: {reply}{}", crate::escape_text(mechanism),
        .error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    TokenRefused {
        /// The mechanism.
        mechanism: String,
        /// The server's final reply.
        reply: crate::Reply,
        /// The error challenge before it, parsed, when there was one
        /// (boxed: it is rare, and the error stays small).
        error: Option<Box<BearerError>>,
    },
    /// A mechanism that sends the password in the clear was refused on a
    /// connection without TLS.
    #[error(
        "{mechanism} would send the password or token in the clear without TLS; allow it explicitly to proceed"
    )]
    PlaintextRefused {
        /// The mechanism.
        mechanism: String,
    },
    /// The configuration names a mechanism that this build left out.
    #[error("the {mechanism} mechanism is not built in: enable the `{feature}` feature")]
    NotBuiltIn {
        /// The mechanism.
        mechanism: String,
        /// The Cargo feature that adds it.
        feature: &'static str,
    },
}

impl From<SelectError> for AuthError {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::NoUsableMechanism { offered } => AuthError::NoUsableMechanism { offered },
            SelectError::PlaintextRefused { mechanism } => {
                AuthError::PlaintextRefused { mechanism }
            }
            SelectError::NotBuiltIn { mechanism, feature } => {
                AuthError::NotBuiltIn { mechanism, feature }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BearerError;

    #[test]
    fn bearer_errors_parse_from_flat_json_only() {
        let e = BearerError::parse(
            br#" { "status" : "invalid_token", "scope":"a b", "n": 1.5e3, "t": true, "x": null,
                "openid-configuration":"https:\/\/idp.example\/x\u0041" } "#,
        )
        .unwrap();
        assert_eq!(e.status, "invalid_token");
        assert_eq!(e.scope.as_deref(), Some("a b"));
        assert_eq!(
            e.openid_configuration.as_deref(),
            Some("https://idp.example/xA")
        );
        assert!(e.is_invalid_token());
        let scope = BearerError::parse(br#"{"status":"insufficient_scope"}"#).unwrap();
        assert!(!scope.is_invalid_token());
        for bad in [
            &b""[..],
            b"{}",
            b"{\"status\":401}",
            b"{\"status\":\"x\"",
            b"{\"status\":\"x\"} trailing",
            b"{\"status\":\"x\",\"nested\":{}}",
            b"{\"status\":\"x\",\"list\":[1]}",
            b"{\"status\":\"a\nb\"}",
            b"{\"status\":\"\\q\"}",
            b"not json",
            b"\xff\xfe",
        ] {
            assert_eq!(
                BearerError::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("{{\"status\":\"{}\"}}", "x".repeat(5000));
        assert_eq!(BearerError::parse(long.as_bytes()), None);
        // Display escapes the server's text.
        let hostile = BearerError::parse(b"{\"status\":\"x\\u001b[31m\\u0085\"}").unwrap();
        assert!(!hostile.to_string().contains('\u{1b}'));
        assert!(!hostile.to_string().contains('\u{85}'));
    }
}
