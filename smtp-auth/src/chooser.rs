//! Choosing a mechanism: the configured order, what the server offers, the
//! disable switches, and the plaintext rule.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::{ChannelBinding, Credentials, Inputs, Mechanism, Scram, SelectError};

/// Makes a mechanism for the given credentials.
pub type MechanismFactory =
    Arc<dyn Fn(&Credentials, &Arc<dyn Inputs>) -> Box<dyn Mechanism> + Send + Sync>;

#[derive(Clone)]
struct Entry {
    name: String,
    make: Make,
    plaintext: bool,
}

/// How an entry makes its mechanism.
#[derive(Clone)]
enum Make {
    /// A factory (the simple built-ins, and every registered mechanism).
    Factory(MechanismFactory),
    /// The built-in SCRAM: it needs the connection's channel binding
    /// (`plus`), or to know whether it could have bound (the `y` flag).
    Scram { sha256: bool, plus: bool },
}

/// The standard mechanism chooser.
///
/// Default preference, strongest first: SCRAM-SHA-256-PLUS,
/// SCRAM-SHA-1-PLUS (over TLS with channel-binding data only),
/// SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, DIGEST-MD5, NTLM, PLAIN, LOGIN,
/// less the legacy mechanisms
/// (CRAM-MD5, DIGEST-MD5, NTLM) whose features are off: the chooser never
/// offers a mechanism this build left out, and a configured order that
/// names one is an error ([`SelectError::NotBuiltIn`], from
/// [`check`](Chooser::check) and [`choose`](Chooser::choose)). XOAUTH2, OAUTHBEARER,
/// ANONYMOUS and EXTERNAL are used only when named in the configured list
/// (as JavaMail disables XOAUTH2 unless asked for: they need a token, or no
/// password at all).
///
/// Channel binding ([`choose_with_binding`](Chooser::choose_with_binding),
/// which the session calls with the TLS layer's data): a -PLUS mechanism is
/// chosen only with binding data, so never without TLS. When the
/// connection could bind but the server offers no -PLUS mechanism at all,
/// SCRAM says so (GS2 flag `y`), and a server that supports -PLUS fails
/// the exchange: someone stripped its list. When the server offers -PLUS
/// but the configured order picks a plain SCRAM, the flag is `n`.
///
/// On TLS 1.2 the binding is `tls-server-end-point` (rustls has no
/// `tls-unique`), and the SMTP servers that implement -PLUS (GNU SASL,
/// Cyrus SASL, Dovecot) expect `tls-unique` there and refuse it, so that
/// a default -PLUS would turn a working login into a 535. There a -PLUS
/// mechanism is chosen only when the configured order names one
/// ([`mechanisms`](Chooser::mechanisms)): by default the plain SCRAM goes,
/// with the flag `n` when the server offers -PLUS. On TLS 1.3 every
/// implementation binds to `tls-exporter`, and -PLUS comes first.
#[derive(Clone)]
pub struct Chooser {
    credentials: Arc<Credentials>,
    order: Vec<String>,
    /// The configured order names a -PLUS mechanism: bind with
    /// `tls-server-end-point` too (TLS 1.2).
    server_end_point: bool,
    disabled: HashSet<String>,
    allow_plaintext: bool,
    registry: Arc<Vec<Entry>>,
    inputs: Arc<dyn Inputs>,
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

/// The default preference order (the legacy mechanisms only with their
/// features).
pub const DEFAULT_ORDER: &[&str] = &[
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    #[cfg(feature = "cram-md5")]
    "CRAM-MD5",
    #[cfg(feature = "digest-md5")]
    "DIGEST-MD5",
    #[cfg(feature = "ntlm")]
    "NTLM",
    "PLAIN",
    "LOGIN",
];

/// The legacy mechanisms and the features that add them.
const LEGACY: &[(&str, &str)] = &[
    ("CRAM-MD5", "cram-md5"),
    ("DIGEST-MD5", "digest-md5"),
    ("NTLM", "ntlm"),
];

/// The mechanisms this build has, upper-case (the legacy ones only with
/// their features).
pub const BUILT_IN: &[&str] = &[
    "PLAIN",
    "LOGIN",
    #[cfg(feature = "cram-md5")]
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256-PLUS",
    #[cfg(feature = "digest-md5")]
    "DIGEST-MD5",
    #[cfg(feature = "ntlm")]
    "NTLM",
    "XOAUTH2",
    "OAUTHBEARER",
    "ANONYMOUS",
    "EXTERNAL",
];

/// The Cargo feature that would add `mechanism` when it is one of ours
/// that this build left out (`Some("ntlm")` for NTLM without the `ntlm`
/// feature); `None` when it is built in or not one of ours.
pub fn missing_feature(mechanism: &str) -> Option<&'static str> {
    LEGACY
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(mechanism))
        .filter(|(name, _)| !BUILT_IN.contains(name))
        .map(|(_, feature)| *feature)
}

impl Chooser {
    /// A chooser with every built-in mechanism and the default order.
    pub fn new(credentials: Credentials) -> Chooser {
        Chooser {
            credentials: Arc::new(credentials),
            order: DEFAULT_ORDER.iter().map(|s| (*s).to_owned()).collect(),
            server_end_point: false,
            disabled: HashSet::new(),
            allow_plaintext: false,
            registry: Arc::new(builtin()),
            inputs: crate::system_inputs(),
        }
    }

    /// Where the mechanisms take randomness and the time from (default
    /// [`SystemInputs`](crate::SystemInputs)).
    pub fn inputs(mut self, inputs: Arc<dyn Inputs>) -> Chooser {
        self.inputs = inputs;
        self
    }

    /// The configured order (`mail.smtp.auth.mechanisms`, or
    /// `mail.smtp.sasl.mechanisms`): space- or comma-separated names. An
    /// order that names a -PLUS mechanism also binds on TLS 1.2
    /// (`tls-server-end-point`; see the type's docs).
    pub fn mechanisms(mut self, list: &str) -> Chooser {
        self.order = list
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_uppercase)
            .collect();
        self.server_end_point = self.order.iter().any(|m| m.ends_with("-PLUS"));
        self
    }

    /// Adds a mechanism to the end of the order unless it is there
    /// already (`mail.smtp.auth.<mech>.disable=false` for one that is off
    /// by default, such as XOAUTH2).
    pub fn enable(mut self, name: &str) -> Chooser {
        let name = name.to_ascii_uppercase();
        self.disabled.remove(&name);
        if !self.order.contains(&name) {
            self.order.push(name);
        }
        self
    }

    /// Whether a mechanism this chooser may pick needs a password or
    /// token: every one but EXTERNAL and ANONYMOUS does. False only when
    /// the configured order, less the disabled mechanisms, names those
    /// two alone (or nothing), so a caller can say that a password is
    /// missing before connecting instead of earning a 535.
    pub fn needs_password(&self) -> bool {
        self.order.iter().any(|name| {
            !self.disabled.contains(name) && !matches!(name.as_str(), "EXTERNAL" | "ANONYMOUS")
        })
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
            .cloned()
            .collect();
        registry.push(Entry {
            name,
            make: Make::Factory(factory),
            plaintext,
        });
        self.registry = Arc::new(registry);
        self
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Checks that every mechanism in the configured order is available:
    /// built in, or registered (a legacy mechanism whose feature is off is
    /// neither, unless you register your own).
    ///
    /// # Errors
    /// [`SelectError::NotBuiltIn`] naming the first such mechanism and the
    /// feature that adds it.
    pub fn check(&self) -> Result<(), SelectError> {
        for name in &self.order {
            if self.disabled.contains(name) || self.registry.iter().any(|e| &e.name == name) {
                continue;
            }
            if let Some(feature) = missing_feature(name) {
                return Err(SelectError::NotBuiltIn {
                    mechanism: name.clone(),
                    feature,
                });
            }
        }
        Ok(())
    }

    /// Picks and starts a mechanism, without channel binding (as
    /// [`choose_with_binding`](Self::choose_with_binding) with none).
    ///
    /// # Errors
    /// As [`choose_with_binding`](Self::choose_with_binding).
    pub fn choose(&self, offered: &[String], tls: bool) -> Result<Box<dyn Mechanism>, SelectError> {
        self.choose_with_binding(offered, tls, None)
    }

    /// Picks and starts a mechanism; `binding` is the TLS connection's
    /// channel-binding data (ignored without `tls`).
    ///
    /// # Errors
    /// [`SelectError::NotBuiltIn`] when the configured order names a
    /// mechanism this build left out (see [`check`](Self::check));
    /// [`SelectError::PlaintextRefused`] when only plaintext mechanisms
    /// remain without TLS, else [`SelectError::NoUsableMechanism`].
    pub fn choose_with_binding(
        &self,
        offered: &[String],
        tls: bool,
        binding: Option<&ChannelBinding>,
    ) -> Result<Box<dyn Mechanism>, SelectError> {
        self.check()?;
        let binding = binding.filter(|_| tls);
        let server_binds = offered
            .iter()
            .any(|o| o.to_ascii_uppercase().ends_with("-PLUS"));
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
            let credentials = &self.credentials;
            let scram = match (&entry.make, binding) {
                (Make::Factory(factory), _) => return Ok(factory(credentials, &self.inputs)),
                // -PLUS needs binding data; without it, the next one. On
                // TLS 1.2 only when named (see the type's docs).
                (Make::Scram { plus: true, .. }, None) => continue,
                (Make::Scram { plus: true, .. }, Some(b))
                    if b.kind() == crate::ChannelBindingType::TlsServerEndPoint
                        && !self.server_end_point =>
                {
                    continue;
                }
                (
                    Make::Scram {
                        sha256: true,
                        plus: true,
                    },
                    Some(binding),
                ) => Scram::sha256_plus(credentials, binding.clone()),
                (
                    Make::Scram {
                        sha256: false,
                        plus: true,
                    },
                    Some(binding),
                ) => Scram::sha1_plus(credentials, binding.clone()),
                (
                    Make::Scram {
                        sha256,
                        plus: false,
                    },
                    binding,
                ) => {
                    let scram = if *sha256 {
                        Scram::sha256(credentials)
                    } else {
                        Scram::sha1(credentials)
                    };
                    if binding.is_some() && !server_binds {
                        scram.server_offered_no_binding()
                    } else {
                        scram
                    }
                }
            };
            return Ok(Box::new(scram.with_inputs(Arc::clone(&self.inputs))));
        }
        Err(match refused {
            Some(mechanism) => SelectError::PlaintextRefused { mechanism },
            None => SelectError::NoUsableMechanism {
                offered: offered.join(" "),
            },
        })
    }
}

fn entry(
    name: &str,
    plaintext: bool,
    factory: fn(&Credentials, &Arc<dyn Inputs>) -> Box<dyn Mechanism>,
) -> Entry {
    Entry {
        name: name.to_owned(),
        make: Make::Factory(Arc::new(factory)),
        plaintext,
    }
}

fn scram(name: &str, sha256: bool, plus: bool) -> Entry {
    Entry {
        name: name.to_owned(),
        make: Make::Scram { sha256, plus },
        plaintext: false,
    }
}

fn builtin() -> Vec<Entry> {
    use crate::simple::{Anonymous, External, Login, OAuthBearer, Plain, XOAuth2};
    vec![
        entry("PLAIN", true, |c, _| Box::new(Plain::new(c))),
        entry("LOGIN", true, |c, _| Box::new(Login::new(c))),
        #[cfg(feature = "cram-md5")]
        entry("CRAM-MD5", false, |c, _| Box::new(crate::CramMd5::new(c))),
        scram("SCRAM-SHA-1", false, false),
        scram("SCRAM-SHA-256", true, false),
        scram("SCRAM-SHA-1-PLUS", false, true),
        scram("SCRAM-SHA-256-PLUS", true, true),
        #[cfg(feature = "digest-md5")]
        entry("DIGEST-MD5", false, |c, i| {
            Box::new(crate::DigestMd5::new(c).with_inputs(Arc::clone(i)))
        }),
        #[cfg(feature = "ntlm")]
        entry("NTLM", false, |c, i| {
            Box::new(crate::Ntlm::new(c).with_inputs(Arc::clone(i)))
        }),
        entry("XOAUTH2", true, |c, _| Box::new(XOAuth2::new(c))),
        entry("OAUTHBEARER", true, |c, _| Box::new(OAuthBearer::new(c))),
        entry("ANONYMOUS", false, |c, _| Box::new(Anonymous::new(c))),
        entry("EXTERNAL", false, |c, _| Box::new(External::new(c))),
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

    /// Inputs that are the same every time.
    #[derive(Debug)]
    struct Fixed(u8);

    impl Inputs for Fixed {
        fn fill_random(&self, buf: &mut [u8]) -> Result<(), crate::SaslError> {
            buf.fill(self.0);
            Ok(())
        }
        fn now(&self) -> std::time::SystemTime {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
        }
    }

    /// The chooser hands its inputs to every mechanism it makes: the SCRAM
    /// nonce comes from them, not from the operating system.
    #[test]
    fn mechanisms_take_randomness_from_the_choosers_inputs() {
        use base64::Engine as _;
        let first = |inputs: Arc<dyn Inputs>| {
            let mut m = chooser()
                .inputs(inputs)
                .choose(&offered("SCRAM-SHA-256"), true)
                .unwrap();
            String::from_utf8(m.initial_response().unwrap().unwrap()).unwrap()
        };
        let nonce = base64::engine::general_purpose::STANDARD.encode([9u8; 24]);
        assert_eq!(first(Arc::new(Fixed(9))), format!("n,,n=u,r={nonce}"));
        assert_eq!(first(Arc::new(Fixed(9))), first(Arc::new(Fixed(9))));
        assert_ne!(first(Arc::new(Fixed(9))), first(Arc::new(Fixed(8))));
        // The default reads the system: two nonces differ.
        assert_ne!(first(crate::system_inputs()), first(crate::system_inputs()));
    }

    #[test]
    fn built_in_is_what_the_registry_has() {
        let registry = builtin();
        let names: Vec<&str> = registry.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), BUILT_IN.len());
        assert!(BUILT_IN.iter().all(|n| names.contains(n)));
        assert!(DEFAULT_ORDER.iter().all(|n| BUILT_IN.contains(n)));
    }

    /// Without a legacy feature the mechanism is neither chosen nor
    /// silently skipped when configured: the error names the feature.
    #[test]
    fn left_out_mechanisms_are_named_with_their_feature() {
        for (name, feature) in LEGACY {
            let built = BUILT_IN.contains(name);
            assert_eq!(missing_feature(name), (!built).then_some(*feature));
            let c = chooser().mechanisms(&format!("{} PLAIN", name.to_lowercase()));
            if built {
                assert!(c.check().is_ok());
                assert_eq!(c.choose(&offered(name), true).unwrap().name(), *name);
            } else {
                let expected = SelectError::NotBuiltIn {
                    mechanism: (*name).to_owned(),
                    feature,
                };
                assert_eq!(c.check(), Err(expected.clone()));
                assert_eq!(
                    c.choose(&offered("PLAIN"), true).err(),
                    Some(expected.clone())
                );
                assert!(expected.to_string().contains(feature), "{expected}");
                // Not in the default order, so never chosen by default.
                assert!(chooser().choose(&offered(name), true).is_err());
                // Disabled, or replaced by one of your own: fine.
                assert!(c.clone().disable(name).check().is_ok());
            }
        }
        assert_eq!(missing_feature("PLAIN"), None);
        assert_eq!(missing_feature("GSSAPI"), None);
    }

    /// TLS 1.2's `tls-server-end-point`, which SMTP servers do not accept
    /// there, is used only when the configured order names -PLUS.
    #[test]
    fn server_end_point_binding_only_when_plus_is_named() {
        let binding =
            ChannelBinding::new(crate::ChannelBindingType::TlsServerEndPoint, vec![5; 32]);
        let all = offered("SCRAM-SHA-256 SCRAM-SHA-256-PLUS PLAIN");
        let mut m = chooser()
            .choose_with_binding(&all, true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert!(m.initial_response().unwrap().unwrap().starts_with(b"n,,"));
        let mut m = chooser()
            .mechanisms("SCRAM-SHA-256-PLUS SCRAM-SHA-256")
            .choose_with_binding(&all, true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-256-PLUS");
        assert!(
            m.initial_response()
                .unwrap()
                .unwrap()
                .starts_with(b"p=tls-server-end-point,,")
        );
        // Enabling a mechanism appends it without naming -PLUS.
        let m = chooser()
            .enable("xoauth2")
            .choose_with_binding(&all, true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-256");
    }

    #[test]
    fn needs_password_unless_only_passwordless_mechanisms_remain() {
        assert!(chooser().needs_password());
        assert!(!chooser().mechanisms("external, anonymous").needs_password());
        assert!(chooser().mechanisms("EXTERNAL PLAIN").needs_password());
        assert!(
            !chooser()
                .mechanisms("EXTERNAL PLAIN")
                .disable("plain")
                .needs_password()
        );
        assert!(!chooser().mechanisms(" , ").needs_password());
    }

    #[test]
    fn plus_only_with_binding_data_and_the_y_flag() {
        let binding = ChannelBinding::new(crate::ChannelBindingType::TlsExporter, vec![9; 32]);
        let first = |m: &mut Box<dyn Mechanism>| {
            String::from_utf8(m.initial_response().unwrap().unwrap()).unwrap()
        };
        let all = offered("SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS PLAIN");
        // Over TLS with binding data, -PLUS wins.
        let mut m = chooser()
            .choose_with_binding(&all, true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-256-PLUS");
        assert!(first(&mut m).starts_with("p=tls-exporter,,"));
        // The configured order decides between the -PLUS ones.
        let m = chooser()
            .mechanisms("SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS")
            .choose_with_binding(&all, true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-1-PLUS");
        // Without binding data, or without TLS, never -PLUS; the server
        // offers -PLUS, so the flag is `n`.
        for (tls, binding) in [(true, None), (false, Some(&binding))] {
            let mut m = chooser().choose_with_binding(&all, tls, binding).unwrap();
            assert_eq!(m.name(), "SCRAM-SHA-256");
            assert!(first(&mut m).starts_with("n,,"));
        }
        // Only -PLUS offered and no binding: nothing usable but PLAIN.
        let m = chooser()
            .choose_with_binding(&offered("SCRAM-SHA-256-PLUS PLAIN"), true, None)
            .unwrap();
        assert_eq!(m.name(), "PLAIN");
        // Could bind, but the server offers no -PLUS: `y`.
        let mut m = chooser()
            .choose_with_binding(&offered("SCRAM-SHA-256 PLAIN"), true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert!(first(&mut m).starts_with("y,,"));
        // Offered -PLUS, but configured without it: `n`.
        let mut m = chooser()
            .mechanisms("SCRAM-SHA-1")
            .choose_with_binding(&all, true, Some(&binding))
            .unwrap();
        assert!(first(&mut m).starts_with("n,,"));
        // A -PLUS mechanism can be disabled like any other.
        let m = chooser()
            .disable("SCRAM-SHA-256-PLUS")
            .choose_with_binding(&all, true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-1-PLUS");
        // The Authenticator trait hands the binding through.
        let m = crate::Authenticator::start_with_binding(&chooser(), &all, true, Some(&binding))
            .unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-256-PLUS");
    }

    #[cfg(feature = "cram-md5")]
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
            .register("gssapi", false, Arc::new(|_, _| Box::new(Gssapi)))
            .mechanisms("GSSAPI PLAIN");
        assert_eq!(
            c.choose(&offered("PLAIN GSSAPI"), false).unwrap().name(),
            "GSSAPI"
        );
        assert!(!format!("{c:?}").contains("\"p\""));
    }
}
