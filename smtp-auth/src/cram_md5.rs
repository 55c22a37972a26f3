//! CRAM-MD5 (RFC 2195), behind the `cram-md5` feature: a challenge and
//! an HMAC-MD5 of it, keyed with the password. The server must store the
//! password (or its MD5 state) in a recoverable form, which is why it is
//! legacy.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;

use crate::{Credentials, Mechanism, SaslError, Secret};

/// CRAM-MD5 (RFC 2195): `user SP hex(HMAC-MD5(password, challenge))`.
#[derive(Debug)]
pub struct CramMd5 {
    user: String,
    password: Secret,
    done: bool,
}

impl CramMd5 {
    /// CRAM-MD5 for these credentials.
    pub fn new(c: &Credentials) -> CramMd5 {
        CramMd5 {
            user: c.user.clone(),
            password: c.password.clone(),
            done: false,
        }
    }
}

impl Mechanism for CramMd5 {
    fn name(&self) -> &str {
        "CRAM-MD5"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(None)
    }
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if std::mem::replace(&mut self.done, true) {
            return Err(SaslError::UnexpectedStep("CRAM-MD5 has one step"));
        }
        if challenge.is_empty() || challenge.len() > 1024 {
            return Err(SaslError::BadChallenge(
                "CRAM-MD5 challenge must be 1 to 1024 octets".into(),
            ));
        }
        let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(self.password.expose().as_bytes())
            .map_err(|e| SaslError::Credentials(e.to_string()))?;
        mac.update(challenge);
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("{} {hex}", self.user).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials::new(user, Secret::new(password))
    }

    #[test]
    fn rfc2195_cram_md5() {
        let mut m = CramMd5::new(&creds("tim", "tanstaaftanstaaf"));
        assert_eq!(m.initial_response().unwrap(), None);
        let response = m
            .respond(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");
        assert!(m.respond(b"again").is_err());
        assert!(CramMd5::new(&creds("a", "b")).respond(b"").is_err());
    }
}
