//! Choosing a mechanism: the configured order, what the server offers, the
//! disable switches, and the plaintext rule.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::{Credentials, Mechanism, SelectError};

/// Makes a mechanism for the given credentials.
pub type MechanismFactory = Arc<dyn Fn(&Credentials) -> Box<dyn Mechanism> + Send + Sync>;

struct Entry {
    name: String,
    factory: MechanismFactory,
    plaintext: bool,
}

/// The standard mechanism chooser.
///
/// Default preference, strongest first: SCRAM-SHA-256, SCRAM-SHA-1,
/// CRAM-MD5, DIGEST-MD5, NTLM, PLAIN, LOGIN. XOAUTH2, OAUTHBEARER,
/// ANONYMOUS and EXTERNAL are used only when named in the configured list
/// (as JavaMail disables XOAUTH2 unless asked for: they need a token, or no
/// password at all).
#[derive(Clone)]
pub struct Chooser {
    credentials: Arc<Credentials>,
    order: Vec<String>,
    disabled: HashSet<String>,
    allow_plaintext: bool,
    registry: Arc<Vec<Entry>>,
}

impl fmt::Debug for Chooser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chooser")
            .field("user", &self.credentials.user)
            .field("order", &self.order)
            .field("disabled", &self.disabled)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish_non_exhaustive()
    }
}

/// The default preference order.
pub const DEFAULT_ORDER: &[&str] = &[
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "DIGEST-MD5",
    "NTLM",
    "PLAIN",
    "LOGIN",
];

impl Chooser {
    /// A chooser with every built-in mechanism and the default order.
    pub fn new(credentials: Credentials) -> Chooser {
        Chooser {
            credentials: Arc::new(credentials),
            order: DEFAULT_ORDER.iter().map(|s| (*s).to_owned()).collect(),
            disabled: HashSet::new(),
            allow_plaintext: false,
            registry: Arc::new(builtin()),
        }
    }

    /// The configured order (`mail.smtp.auth.mechanisms`, or
    /// `mail.smtp.sasl.mechanisms`): space- or comma-separated names.
    pub fn mechanisms(mut self, list: &str) -> Chooser {
        self.order = list
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_uppercase)
            .collect();
        self
    }

    /// Disables a mechanism (`mail.smtp.auth.<mech>.disable=true`).
    pub fn disable(mut self, name: &str) -> Chooser {
        self.disabled.insert(name.to_ascii_uppercase());
        self
    }

    /// Allows the mechanisms that send a secret in the clear (PLAIN, LOGIN,
    /// and the bearer-token mechanisms XOAUTH2 and OAUTHBEARER: a token is
    /// a password) on a connection without TLS.
    pub fn allow_plaintext(mut self, allow: bool) -> Chooser {
        self.allow_plaintext = allow;
        self
    }

    /// Registers a mechanism of your own (GSSAPI, say), or replaces a
    /// built-in one. Add its name to [`mechanisms`](Self::mechanisms) to
    /// use it.
    pub fn register(mut self, name: &str, plaintext: bool, factory: MechanismFactory) -> Chooser {
        let name = name.to_ascii_uppercase();
        let mut registry: Vec<Entry> = self
            .registry
            .iter()
            .filter(|e| e.name != name)
            .map(|e| Entry {
                name: e.name.clone(),
                factory: Arc::clone(&e.factory),
                plaintext: e.plaintext,
            })
            .collect();
        registry.push(Entry {
            name,
            factory,
            plaintext,
        });
        self.registry = Arc::new(registry);
        self
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Picks and starts a mechanism.
    ///
    /// # Errors
    /// [`SelectError::PlaintextRefused`] when only plaintext mechanisms
    /// remain without TLS, else [`SelectError::NoUsableMechanism`].
    pub fn choose(&self, offered: &[String], tls: bool) -> Result<Box<dyn Mechanism>, SelectError> {
        let mut refused = None;
        for name in &self.order {
            if self.disabled.contains(name) || !offered.iter().any(|o| o.eq_ignore_ascii_case(name))
            {
                continue;
            }
            let Some(entry) = self.registry.iter().find(|e| &e.name == name) else {
                continue;
            };
            if entry.plaintext && !tls && !self.allow_plaintext {
                refused.get_or_insert_with(|| name.clone());
                continue;
            }
            return Ok((entry.factory)(&self.credentials));
        }
        Err(match refused {
            Some(mechanism) => SelectError::PlaintextRefused { mechanism },
            None => SelectError::NoUsableMechanism {
                offered: offered.join(" "),
            },
        })
    }
}

fn entry(name: &str, plaintext: bool, factory: fn(&Credentials) -> Box<dyn Mechanism>) -> Entry {
    Entry {
        name: name.to_owned(),
        factory: Arc::new(factory),
        plaintext,
    }
}

fn builtin() -> Vec<Entry> {
    use crate::simple::{Anonymous, CramMd5, External, Login, OAuthBearer, Plain, XOAuth2};
    vec![
        entry("PLAIN", true, |c| Box::new(Plain::new(c))),
        entry("LOGIN", true, |c| Box::new(Login::new(c))),
        entry("CRAM-MD5", false, |c| Box::new(CramMd5::new(c))),
        entry("SCRAM-SHA-1", false, |c| Box::new(crate::Scram::sha1(c))),
        entry("SCRAM-SHA-256", false, |c| {
            Box::new(crate::Scram::sha256(c))
        }),
        entry("DIGEST-MD5", false, |c| Box::new(crate::DigestMd5::new(c))),
        entry("NTLM", false, |c| Box::new(crate::Ntlm::new(c))),
        entry("XOAUTH2", true, |c| Box::new(XOAuth2::new(c))),
        entry("OAUTHBEARER", true, |c| Box::new(OAuthBearer::new(c))),
        entry("ANONYMOUS", false, |c| Box::new(Anonymous::new(c))),
        entry("EXTERNAL", false, |c| Box::new(External::new(c))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn offered(list: &str) -> Vec<String> {
        list.split(' ').map(String::from).collect()
    }

    fn chooser() -> Chooser {
        Chooser::new(Credentials::new("u", Secret::new("p")))
    }

    #[test]
    fn order_disable_and_plaintext_rule() {
        let c = chooser();
        assert_eq!(
            c.choose(&offered("LOGIN PLAIN CRAM-MD5"), false)
                .unwrap()
                .name(),
            "CRAM-MD5"
        );
        let c = chooser().disable("cram-md5");
        assert_eq!(
            c.choose(&offered("LOGIN PLAIN CRAM-MD5"), false).err(),
            Some(SelectError::PlaintextRefused {
                mechanism: "PLAIN".into()
            })
        );
        assert_eq!(
            c.choose(&offered("LOGIN PLAIN CRAM-MD5"), true)
                .unwrap()
                .name(),
            "PLAIN"
        );
        let c = chooser().mechanisms("LOGIN PLAIN");
        assert_eq!(
            c.choose(&offered("PLAIN LOGIN"), true).unwrap().name(),
            "LOGIN"
        );
        assert_eq!(
            chooser().choose(&offered("GSSAPI"), true).err(),
            Some(SelectError::NoUsableMechanism {
                offered: "GSSAPI".into()
            })
        );
        // XOAUTH2 only when asked for.
        assert!(chooser().choose(&offered("XOAUTH2"), true).is_err());
        assert_eq!(
            chooser()
                .mechanisms("XOAUTH2")
                .choose(&offered("XOAUTH2"), true)
                .unwrap()
                .name(),
            "XOAUTH2"
        );
    }

    #[test]
    fn custom_mechanisms_can_be_registered() {
        struct Gssapi;
        impl Mechanism for Gssapi {
            fn name(&self) -> &str {
                "GSSAPI"
            }
            fn initial_response(&mut self) -> Result<Option<Vec<u8>>, crate::SaslError> {
                Ok(Some(b"token".to_vec()))
            }
            fn respond(&mut self, _: &[u8]) -> Result<Vec<u8>, crate::SaslError> {
                Ok(Vec::new())
            }
        }
        let c = chooser()
            .register("gssapi", false, Arc::new(|_| Box::new(Gssapi)))
            .mechanisms("GSSAPI PLAIN");
        assert_eq!(
            c.choose(&offered("PLAIN GSSAPI"), false).unwrap().name(),
            "GSSAPI"
        );
        assert!(!format!("{c:?}").contains("\"p\""));
    }
}
