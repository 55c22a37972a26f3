//! The mechanisms that fit in a few lines: PLAIN (RFC 4616), LOGIN,
//! XOAUTH2, OAUTHBEARER (RFC 7628), ANONYMOUS (RFC 4505), EXTERNAL
//! (RFC 4422 appendix A).

use crate::{BearerError, Credentials, Mechanism, SaslError, Secret};

/// PLAIN (RFC 4616): `authzid NUL authcid NUL password` in one step.
/// Sends the password in the clear: needs TLS (or an explicit opt-in).
#[derive(Debug)]
pub struct Plain {
    authzid: String,
    user: String,
    password: Secret,
    sent: bool,
}

impl Plain {
    /// PLAIN for these credentials.
    pub fn new(c: &Credentials) -> Plain {
        Plain {
            authzid: c.authzid.clone().unwrap_or_default(),
            user: c.user.clone(),
            password: c.password.clone(),
            sent: false,
        }
    }

    fn message(&self) -> Vec<u8> {
        [
            self.authzid.as_bytes(),
            b"\0",
            self.user.as_bytes(),
            b"\0",
            self.password.expose().as_bytes(),
        ]
        .concat()
    }
}

impl Mechanism for Plain {
    fn name(&self) -> &str {
        "PLAIN"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        self.sent = true;
        Ok(Some(self.message()))
    }
    fn respond(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        // The server asked for the response (empty 334) instead of taking
        // it with AUTH; give it once.
        if std::mem::replace(&mut self.sent, true) && !_challenge.is_empty() {
            return Err(SaslError::UnexpectedStep("PLAIN has one step"));
        }
        Ok(self.message())
    }
}

/// LOGIN (draft-murchison-sasl-login): the user name, then the password,
/// each on request. Sends the password in the clear.
#[derive(Debug)]
pub struct Login {
    user: String,
    password: Secret,
    step: u8,
}

impl Login {
    /// LOGIN for these credentials.
    pub fn new(c: &Credentials) -> Login {
        Login {
            user: c.user.clone(),
            password: c.password.clone(),
            step: 0,
        }
    }
}

impl Mechanism for Login {
    fn name(&self) -> &str {
        "LOGIN"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(None)
    }
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        self.step += 1;
        // Servers ask "Username:" then "Password:"; trust the order, but a
        // server that asks for the password first gets it only if it says
        // so.
        let asks_password = String::from_utf8_lossy(challenge)
            .to_ascii_lowercase()
            .contains("pass");
        match self.step {
            1 if !asks_password => Ok(self.user.as_bytes().to_vec()),
            1 | 2 => Ok(self.password.expose().as_bytes().to_vec()),
            _ => Err(SaslError::UnexpectedStep("LOGIN has two steps")),
        }
    }
}

/// XOAUTH2 (Google, Microsoft): `user=… ^A auth=Bearer token ^A ^A`. The
/// credentials' password is the access token.
#[derive(Debug)]
pub struct XOAuth2 {
    user: String,
    token: Secret,
    error: Option<Vec<u8>>,
}

impl XOAuth2 {
    /// XOAUTH2 for these credentials (password = access token).
    pub fn new(c: &Credentials) -> XOAuth2 {
        XOAuth2 {
            user: c.user.clone(),
            token: c.password.clone(),
            error: None,
        }
    }
}

impl Mechanism for XOAuth2 {
    fn name(&self) -> &str {
        "XOAUTH2"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(Some(
            format!(
                "user={}\x01auth=Bearer {}\x01\x01",
                self.user,
                self.token.expose()
            )
            .into_bytes(),
        ))
    }
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        // The challenge is a JSON error; an empty response lets the server
        // finish with its 5xx.
        if self.error.replace(challenge.to_vec()).is_some() {
            return Err(SaslError::UnexpectedStep(
                "XOAUTH2 error already acknowledged",
            ));
        }
        Ok(Vec::new())
    }
    fn carries_bearer_token(&self) -> bool {
        true
    }
    fn bearer_error(&self) -> Option<BearerError> {
        BearerError::parse(self.error.as_deref()?)
    }
}

/// OAUTHBEARER (RFC 7628): a GS2 header and key-value pairs with the token.
/// On an error challenge it answers `%x01`, as §3.2.3 requires.
#[derive(Debug)]
pub struct OAuthBearer {
    authzid: String,
    host: String,
    port: Option<u16>,
    token: Secret,
    error: Option<Vec<u8>>,
}

impl OAuthBearer {
    /// OAUTHBEARER for these credentials (password = access token).
    pub fn new(c: &Credentials) -> OAuthBearer {
        OAuthBearer {
            authzid: c.authzid.clone().unwrap_or_else(|| c.user.clone()),
            host: c.host.clone(),
            port: c.port,
            token: c.password.clone(),
            error: None,
        }
    }
}

/// RFC 5801 `saslname`: `=` and `,` are escaped.
fn gs2_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &str {
        "OAUTHBEARER"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        let authzid = if self.authzid.is_empty() {
            String::new()
        } else {
            format!("a={}", gs2_name(&self.authzid))
        };
        let mut message = format!("n,{authzid},\x01");
        if !self.host.is_empty() {
            message.push_str(&format!("host={}\x01", self.host));
        }
        if let Some(port) = self.port {
            message.push_str(&format!("port={port}\x01"));
        }
        message.push_str(&format!("auth=Bearer {}\x01\x01", self.token.expose()));
        Ok(Some(message.into_bytes()))
    }
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if self.error.is_some() {
            return Err(SaslError::UnexpectedStep(
                "OAUTHBEARER error already acknowledged",
            ));
        }
        self.error = Some(challenge.to_vec());
        Ok(vec![0x01])
    }
    fn finish(&mut self) -> Result<(), SaslError> {
        match self.error.take() {
            Some(e) => Err(SaslError::ServerError(
                String::from_utf8_lossy(&e).into_owned(),
            )),
            None => Ok(()),
        }
    }
    fn carries_bearer_token(&self) -> bool {
        true
    }
    fn bearer_error(&self) -> Option<BearerError> {
        BearerError::parse(self.error.as_deref()?)
    }
}

/// ANONYMOUS (RFC 4505): optional trace information (the user field).
#[derive(Debug)]
pub struct Anonymous {
    trace: String,
}

impl Anonymous {
    /// ANONYMOUS with the user field as trace.
    pub fn new(c: &Credentials) -> Anonymous {
        Anonymous {
            trace: c.user.clone(),
        }
    }
}

impl Mechanism for Anonymous {
    fn name(&self) -> &str {
        "ANONYMOUS"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(Some(self.trace.as_bytes().to_vec()))
    }
    fn respond(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        Ok(self.trace.as_bytes().to_vec())
    }
}

/// EXTERNAL (RFC 4422 appendix A): identity from the TLS client certificate;
/// sends only the authorization identity (empty: derive it).
#[derive(Debug)]
pub struct External {
    authzid: String,
}

impl External {
    /// EXTERNAL with the credentials' authzid.
    pub fn new(c: &Credentials) -> External {
        External {
            authzid: c.authzid.clone().unwrap_or_default(),
        }
    }
}

impl Mechanism for External {
    fn name(&self) -> &str {
        "EXTERNAL"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(Some(self.authzid.as_bytes().to_vec()))
    }
    fn respond(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        Ok(self.authzid.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials::new(user, Secret::new(password))
    }

    #[test]
    fn rfc4616_plain() {
        // RFC 4616 §4 examples.
        let mut c = creds("tim", "tanstaaftanstaaf");
        let mut m = Plain::new(&c);
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"\0tim\0tanstaaftanstaaf"
        );
        c.authzid = Some("Ursel".into());
        c.user = "Kurt".into();
        c.password = Secret::new("xipj3plmq");
        assert_eq!(
            Plain::new(&c).initial_response().unwrap().unwrap(),
            b"Ursel\0Kurt\0xipj3plmq"
        );
    }

    #[test]
    fn login_steps() {
        let mut m = Login::new(&creds("user", "secret"));
        assert_eq!(m.initial_response().unwrap(), None);
        assert_eq!(m.respond(b"Username:").unwrap(), b"user");
        assert_eq!(m.respond(b"Password:").unwrap(), b"secret");
        assert!(m.respond(b"More:").is_err());
    }

    #[test]
    fn xoauth2_format() {
        let mut m = XOAuth2::new(&creds(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        ));
        // Google's documented example.
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert_eq!(m.respond(b"{\"status\":\"401\"}").unwrap(), b"");
        assert!(m.respond(b"{}").is_err());
    }

    #[test]
    fn rfc7628_oauthbearer() {
        // RFC 7628 §4.1: the initial client response.
        let mut c = creds(
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        );
        c.host = "server.example.com".into();
        c.port = Some(143);
        let mut m = OAuthBearer::new(&c);
        assert_eq!(
            m.initial_response().unwrap().unwrap(),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        // §4.3: a failed exchange: the client answers %x01 and reports the
        // server's error.
        let error = br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
        assert_eq!(m.respond(error).unwrap(), [0x01]);
        assert!(m.carries_bearer_token());
        let parsed = m.bearer_error().unwrap();
        assert!(parsed.is_invalid_token());
        assert_eq!(parsed.scope.as_deref(), Some("example_scope"));
        assert_eq!(
            parsed.openid_configuration.as_deref(),
            Some("https://example.com/.well-known/openid-configuration")
        );
        assert!(
            matches!(m.finish(), Err(SaslError::ServerError(e)) if e.contains("invalid_token"))
        );
    }

    #[test]
    fn xoauth2_keeps_the_error_challenge_for_the_refusal() {
        let mut m = XOAuth2::new(&creds("u", "t"));
        assert!(m.carries_bearer_token());
        assert_eq!(m.bearer_error(), None, "no challenge, nothing parsed");
        m.respond(br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#)
            .unwrap();
        let e = m.bearer_error().unwrap();
        assert_eq!(
            (e.status.as_str(), e.schemes.as_deref()),
            ("401", Some("bearer"))
        );
        assert!(e.is_invalid_token());
        assert!(!Plain::new(&creds("u", "p")).carries_bearer_token());
    }

    #[test]
    fn anonymous_and_external() {
        let mut c = creds("sirhc", "");
        assert_eq!(
            Anonymous::new(&c).initial_response().unwrap().unwrap(),
            b"sirhc"
        );
        assert_eq!(External::new(&c).initial_response().unwrap().unwrap(), b"");
        c.authzid = Some("admin".into());
        assert_eq!(
            External::new(&c).initial_response().unwrap().unwrap(),
            b"admin"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let m = Plain::new(&creds("user", "hunter2"));
        assert!(!format!("{m:?}").contains("hunter2"));
        assert!(format!("{:?}", creds("u", "hunter2")).contains("[redacted]"));
    }
}
