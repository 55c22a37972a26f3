//! JavaMail-style configuration: `mail.smtp.*` (and `mail.smtps.*`)
//! properties turned into typed settings, once, for every client. Each
//! setting has one place ([`ClientSettings`] and its parts); a property and
//! the typed field are two ways to set the same value. The keys are one
//! table, [`KEYS`], which this list mirrors (a test keeps them in step).
//!
//! | key | setting | our default (JavaMail's) |
//! |---|---|---|
//! | `host`, `port` | [`ClientSettings::host`], [`ClientSettings::port`] (see [`ClientSettings::port()`]) | `localhost`; 25, or 465 with implicit TLS |
//! | `user` | [`Credentials::user`] (`auth.credentials.user`) | — |
//! | `from` | [`ClientSettings::from`] | the message's From: |
//! | `setdate`, `setmessageid` | [`ClientSettings::message`]: add `Date:`, `Message-ID:` to a message-level send that lacks them (msmtp's `set_date_header`, `set_msgid_header`) | **true** (JavaMail's `saveChanges` sets Message-ID) |
//! | `allowlonglines` | [`MessageSettings::allow_long_lines`](crate::MessageSettings::allow_long_lines): send lines over 998 octets as they are | **false**: a message-level send refuses them before MAIL (JavaMail sends them) |
//! | `localhost` | [`ClientSettings::local_name`] | host name, else address literal of the local address |
//! | `localaddress`, `localport` | [`ClientSettings::local_address`], [`ClientSettings::local_port`] | — |
//! | `connectiontimeout` (ms) | [`ClientSettings::connect_timeout`] | 5 minutes (infinite) |
//! | `timeout` (ms) | [`SessionOptions::timeouts`], all phases | RFC 5321 §4.5.3.2 per phase (infinite) |
//! | `writetimeout` (ms) | [`ClientSettings::write_timeout`] | 5 minutes (infinite) |
//! | `ehlo` | [`SessionOptions::use_ehlo`] | true |
//! | `sendpartial` | [`SessionOptions::send_partial`] | false |
//! | `reportsuccess` | [`ClientSettings::report_success`] | false |
//! | `quitwait` | [`SessionOptions::quit_wait`] | true |
//! | `quitonsessionreject` | [`SessionOptions::quit_on_session_reject`] | false |
//! | `userset` | [`SessionOptions::use_rset_for_liveness`] | false |
//! | `noop.strict` | [`SessionOptions::noop_strict`] | true |
//! | `mailextension` | [`SessionOptions::mail_extension`], validated | — |
//! | `submitter` | [`SessionOptions::submitter`] | — |
//! | `dsn.notify`, `dsn.ret` | [`SessionOptions::dsn_notify`], [`SessionOptions::dsn_ret`] | — |
//! | `chunksize` | [`SessionOptions::chunk_size`]; 0 or less disables BDAT | BDAT with 1 MiB chunks when offered (no BDAT) |
//! | `chunking.pipelinefirst` | [`SessionOptions::pipeline_first_chunk`]: the first BDAT chunk rides with MAIL and RCPT, before their replies; only for servers known to discard a refused chunk (Dovecot 2.3's submission service does not) | false: BDAT data waits until the server accepted MAIL and a RCPT (no BDAT) |
//! | `allow8bitmime` | accepted; BODY=8BITMIME is always declared when the content needs it and refused when the server lacks it | (false: converts encodings) |
//! | `auth` | [`AuthSettings::enabled`] (a user plus a password set in code also enables it) | false |
//! | `auth.mechanisms`, `sasl.enable`, `sasl.mechanisms` | [`AuthSettings::mechanisms`] / `sasl_mechanisms`: preference order | SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS (over TLS with channel binding) SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 DIGEST-MD5 NTLM PLAIN LOGIN, the legacy three only with their features (LOGIN PLAIN DIGEST-MD5 NTLM XOAUTH2) |
//! | `auth.<mech>.disable` | [`AuthSettings::disabled`]; `false` opts XOAUTH2/OAUTHBEARER/ANONYMOUS/EXTERNAL in | XOAUTH2 off unless asked (same) |
//! | `sasl.authorizationid`, `sasl.realm`, `auth.ntlm.domain`, `auth.ntlm.flags` | [`Credentials`] fields (`auth.credentials`) | — |
//! | (none) | [`AuthSettings::allow_plaintext`]: PLAIN/LOGIN without TLS | refused (JavaMail sends them in the clear) |
//! | `ssl.enable` | [`TlsOptions::implicit`]; port 465 unless set | false (smtp), true (smtps) |
//! | `starttls.enable`, `starttls.required` | [`TlsOptions::starttls_enable`], [`TlsOptions::starttls_required`]; required implies enabled; offered then refused is an error, never a fallback; **with authentication on, enabled means required**: credentials never cross a connection without TLS unless `enable` is false | **enable: true** (false), required: false (true with authentication) |
//! | `ssl.checkserveridentity` | [`TlsSettings::check_server_identity`] | **true** (false in JavaMail 1.6) |
//! | `ssl.trust` | [`TlsSettings::trust`]: `*` or hosts trusted without verification | — |
//! | `ssl.protocols`, `ssl.ciphersuites` | [`TlsSettings::protocols`], [`TlsSettings::cipher_suites`] (rustls or IANA names) | TLSv1.2 and TLSv1.3 |
//! | `socks.host`, `socks.port` | SOCKS5 proxy, remote DNS, port 1080 by default; credentials in code ([`ProxySettings`]) | — |
//! | `proxy.host`, `proxy.port`, `proxy.user`, `proxy.password` | HTTP CONNECT proxy, port 80 by default, Basic auth | — |
//! | `socketFactory`, `socketFactory.class`, `ssl.socketFactory`, `ssl.socketFactory.class` | Java classes: an error; in Rust pass a connected stream (`smtpkit_blocking::Client::from_transport`) or a rustls `ClientConfig` (`smtpkit_tls::RustlsConnector`) | — |
//! | `socketFactory.port`, `ssl.socketFactory.port`, `socketFactory.fallback` | validated; they only apply to a socket factory | — |
//!
//! Values are read strictly: booleans are `true` or `false` (any case),
//! numbers are decimal; anything else is an error naming the key. Keys
//! under the prefix that are not in JavaMail's table are returned in
//! [`ClientSettings::unknown_keys`].

use std::time::Duration;

use std::sync::Arc;

pub use smtpkit_auth::Credentials;
pub use smtpkit_proto::SessionOptions;
use smtpkit_proto::{
    Address, EsmtpParam, Host, MailAuth, ReversePath, Secret, SessionConfig, StartTlsPolicy,
    Timeouts,
};
use smtpkit_tls::{ClientCertificate, RootSource, TlsError, TlsSettings, Trust};

/// `smtp` or `smtps` (implicit TLS): which key prefix applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// `mail.smtp.*`, port 25.
    Smtp,
    /// `mail.smtps.*`, port 465, implicit TLS.
    Smtps,
    /// LMTP (RFC 2033), configured by the `mail.smtp.*` keys, port 24:
    /// LHLO, and one reply per accepted recipient after the data. Often
    /// on a Unix socket ([`ClientSettings::unix_socket`]).
    Lmtp,
}

impl Protocol {
    /// The key prefix, with its trailing dot.
    pub fn prefix(self) -> &'static str {
        match self {
            Protocol::Smtp | Protocol::Lmtp => "mail.smtp.",
            Protocol::Smtps => "mail.smtps.",
        }
    }

    /// The default port.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Smtp => 25,
            Protocol::Smtps => 465,
            Protocol::Lmtp => 24,
        }
    }
}

/// A property with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?}: {reason}")]
pub struct PropertyError {
    /// The full key.
    pub key: String,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Everything a client needs to connect and run sessions.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Which protocol (and key prefix).
    pub protocol: Protocol,
    /// The server (`mail.smtp.host`).
    pub host: String,
    /// The port (`mail.smtp.port`); `None`: the protocol's, see
    /// [`ClientSettings::port()`].
    pub port: Option<u16>,
    /// The envelope sender (`mail.smtp.from`).
    pub from: Option<ReversePath>,
    /// What message-level sends add to the header: `Date:` and
    /// `Message-ID:` when missing (`mail.smtp.setdate`,
    /// `mail.smtp.setmessageid`; both on).
    pub message: crate::message::MessageSettings,
    /// Signs message-level sends with DKIM (feature `dkim`): see
    /// [`dkim`](crate::dkim).
    #[cfg(feature = "dkim")]
    pub dkim: Option<crate::dkim::DkimSigner>,
    /// The EHLO name (`mail.smtp.localhost`); see
    /// [`default_ehlo_name`](smtpkit_proto::default_ehlo_name) when `None`.
    pub local_name: Option<Host>,
    /// Local address to bind (`mail.smtp.localaddress`).
    pub local_address: Option<String>,
    /// Local port to bind (`mail.smtp.localport`).
    pub local_port: Option<u16>,
    /// TCP connect timeout (`mail.smtp.connectiontimeout`).
    pub connect_timeout: Duration,
    /// Socket write timeout (`mail.smtp.writetimeout`).
    pub write_timeout: Duration,
    /// Connect to this Unix domain socket instead of `host` and the port
    /// (an LMTP server's, typically). `host` stays the server's name for
    /// TLS; no proxy is used.
    pub unix_socket: Option<std::path::PathBuf>,
    /// How the session behaves (`mail.smtp.ehlo`, `sendpartial`, the
    /// deadlines, …). What comes from elsewhere (the EHLO name, the server
    /// name, TLS, the authenticator) is not here, so it is set in one place
    /// only; [`ClientSettings::session_config`] assembles it all.
    pub session: SessionOptions,
    /// `mail.smtp.reportsuccess`: list every accepted recipient with its
    /// reply in reports (smtp-send prints them).
    pub report_success: bool,
    /// Authentication (`mail.smtp.auth*`, `mail.smtp.sasl.*`).
    pub auth: AuthSettings,
    /// TLS (`mail.smtp.ssl.*`, `mail.smtp.starttls.*`); `smtp-tls` turns
    /// it into a connector.
    pub tls: TlsOptions,
    /// The proxy to connect through (`mail.smtp.socks.*`,
    /// `mail.smtp.proxy.*`).
    pub proxy: Option<ProxySettings>,
    socks_host: Option<String>,
    socks_port: Option<u16>,
    http_proxy_host: Option<String>,
    http_proxy_port: Option<u16>,
    proxy_user: Option<String>,
    proxy_password: Option<Secret>,
    /// Keys under the prefix that JavaMail does not define.
    pub unknown_keys: Vec<String>,
}

/// Which kind of proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS5 (`mail.smtp.socks.host`), with remote DNS.
    Socks5,
    /// HTTP CONNECT (`mail.smtp.proxy.host`).
    HttpConnect,
}

/// A proxy to connect through.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// SOCKS5 or HTTP CONNECT.
    pub kind: ProxyKind,
    /// The proxy's host.
    pub host: String,
    /// The proxy's port (default 1080 for SOCKS5, 80 for HTTP).
    pub port: u16,
    /// User name for the proxy (RFC 1929, or HTTP Basic).
    pub user: Option<String>,
    /// Its password.
    pub password: Option<Secret>,
}

impl ProxySettings {
    /// A proxy without credentials.
    pub fn new(kind: ProxyKind, host: impl Into<String>, port: u16) -> ProxySettings {
        ProxySettings {
            kind,
            host: host.into(),
            port,
            user: None,
            password: None,
        }
    }

    /// The handshake to open a tunnel to `host:port` through this proxy.
    ///
    /// # Errors
    /// As [`ProxyHandshake::socks5`](smtpkit_proto::proxy::ProxyHandshake::socks5)
    /// and `http_connect`.
    pub fn handshake(
        &self,
        host: &str,
        port: u16,
    ) -> Result<smtpkit_proto::proxy::ProxyHandshake, smtpkit_proto::proxy::ProxyError> {
        let credentials = self
            .user
            .as_deref()
            .map(|u| (u, self.password.clone().unwrap_or_default()));
        match self.kind {
            ProxyKind::Socks5 => {
                smtpkit_proto::proxy::ProxyHandshake::socks5(host, port, credentials)
            }
            ProxyKind::HttpConnect => {
                smtpkit_proto::proxy::ProxyHandshake::http_connect(host, port, credentials)
            }
        }
    }
}

/// How TLS is used: when (implicit, STARTTLS), the client certificate's
/// files, and [`TlsSettings`] (smtp-tls's own type: trust, roots, pins,
/// protocols), which `smtp-tls` turns into a rustls configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Implicit TLS from the first byte (`mail.smtp.ssl.enable`; true for
    /// [`Protocol::Smtps`]).
    pub implicit: bool,
    /// `mail.smtp.starttls.enable`: upgrade whenever the server offers
    /// STARTTLS (default true; JavaMail's is false).
    pub starttls_enable: bool,
    /// `mail.smtp.starttls.required`.
    pub starttls_required: bool,
    /// A client certificate chain (PEM file), read when connecting.
    pub client_cert: Option<std::path::PathBuf>,
    /// Its private key (PEM file), read when connecting.
    pub client_key: Option<std::path::PathBuf>,
    /// Verification and the rest (`mail.smtp.ssl.trust`,
    /// `checkserveridentity`, `protocols`, `ciphersuites`; more CAs, the
    /// root source, pins). `check_server_identity` defaults to true,
    /// unlike JavaMail 1.6; [`RootSource::None`] trusts only the extra
    /// CAs.
    pub settings: TlsSettings,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            implicit: false,
            // Secure by default (JavaMail: false).
            starttls_enable: true,
            starttls_required: false,
            client_cert: None,
            client_key: None,
            settings: TlsSettings::default(),
        }
    }
}

impl TlsOptions {
    /// Trust these CA certificates (PEM) as well as the roots, or instead
    /// of them with `only` (a private CA).
    pub fn trust_ca_pem(&mut self, pem: impl Into<Vec<u8>>, only: bool) {
        self.settings.extra_ca_pem.push(pem.into());
        if only {
            self.settings.roots = RootSource::None;
        }
    }

    /// [`settings`](Self::settings) with the client certificate read from
    /// its files.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`](smtpkit_proto::TlsErrorKind::Config) when a
    /// client certificate or key file cannot be read, or only one is set.
    pub fn load(&self) -> Result<TlsSettings, TlsError> {
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path)
                .map_err(|e| smtpkit_tls::config_error(format!("{}: {e}", path.display())))
        };
        let mut settings = self.settings.clone();
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                settings.client_certificate = Some(ClientCertificate {
                    chain_pem: read(cert)?,
                    key_pem: read(key)?,
                });
            }
            (None, None) => {}
            _ => {
                return Err(smtpkit_tls::config_error(
                    "a client certificate needs both the chain and the key",
                ));
            }
        }
        Ok(settings)
    }

    /// The STARTTLS policy: `required` implies enabled, as in JavaMail.
    pub fn policy(&self) -> StartTlsPolicy {
        if self.starttls_required {
            StartTlsPolicy::Required
        } else if self.starttls_enable {
            StartTlsPolicy::Opportunistic
        } else {
            StartTlsPolicy::Never
        }
    }
}

/// Authentication settings: which mechanisms, and the SASL
/// [`Credentials`] (smtp-auth's own type: user, password or token,
/// authorization id, realm, NTLM domain and flags). The password is never
/// a property (JavaMail takes it from `connect` or an `Authenticator`):
/// set it in code. The credentials' `host` and `port` are the
/// connection's, filled in when connecting.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuthSettings {
    /// `mail.smtp.auth`.
    pub enabled: bool,
    /// `mail.smtp.auth.mechanisms`: preference list.
    pub mechanisms: Option<String>,
    /// `mail.smtp.sasl.enable`.
    pub sasl_enable: bool,
    /// `mail.smtp.sasl.mechanisms` (used when `sasl_enable`).
    pub sasl_mechanisms: Option<String>,
    /// `mail.smtp.auth.<mech>.disable=true`, upper-cased.
    pub disabled: Vec<String>,
    /// `mail.smtp.auth.<mech>.disable=false`: opted in (XOAUTH2 and the
    /// other mechanisms that are off by default).
    pub enabled_explicitly: Vec<String>,
    /// Allow authentication without TLS: PLAIN, LOGIN and bearer tokens
    /// in the clear, and, with the default opportunistic STARTTLS, AUTH on
    /// a server that does not offer STARTTLS (a secure default JavaMail
    /// lacks: it sends them in the clear). See
    /// [`ClientSettings::starttls_policy`].
    pub allow_plaintext: bool,
    /// Who authenticates, and with what (`mail.smtp.user`,
    /// `mail.smtp.sasl.authorizationid`, `mail.smtp.sasl.realm`,
    /// `mail.smtp.auth.ntlm.domain`, `mail.smtp.auth.ntlm.flags`).
    pub credentials: Credentials,
    /// Where OAuth 2.0 access tokens come from (feature `oauth2`): each
    /// connection authenticates with the cache's current token as the
    /// credentials' password, by XOAUTH2 or OAUTHBEARER
    /// ([`TOKEN_MECHANISMS`](crate::oauth2::TOKEN_MECHANISMS) unless the
    /// mechanisms are configured), and a refused token is replaced once
    /// on a new connection. Set it with
    /// [`login_with_tokens`](Self::login_with_tokens).
    #[cfg(feature = "oauth2")]
    pub tokens: Option<smtpkit_oauth2::TokenCache>,
}

impl AuthSettings {
    /// Authenticate as `user` with `password` (or an OAuth2 access
    /// token).
    pub fn login(&mut self, user: impl Into<String>, password: impl Into<Secret>) {
        self.enabled = true;
        self.credentials.user = user.into();
        self.credentials.password = password.into();
    }

    /// Authenticate as `user` with the access tokens of `tokens` (feature
    /// `oauth2`), renewed as they expire.
    #[cfg(feature = "oauth2")]
    pub fn login_with_tokens(
        &mut self,
        user: impl Into<String>,
        tokens: smtpkit_oauth2::TokenCache,
    ) {
        self.enabled = true;
        self.credentials.user = user.into();
        self.tokens = Some(tokens);
    }
}

impl ClientSettings {
    /// Secure defaults for `protocol` and `host`: with [`Protocol::Smtp`],
    /// STARTTLS whenever the server offers it, with the certificate and the
    /// host name verified, and a refused or failed upgrade is an error,
    /// never a silent fallback to plaintext; [`Protocol::Smtps`] is TLS
    /// from the first byte. (JavaMail's default is plaintext.) Without
    /// credentials a server that does not offer STARTTLS gets the message
    /// in plaintext, as MX-to-MX mail does (opportunistic TLS, RFC 3207);
    /// **with credentials** ([`AuthSettings::login`], `mail.smtp.auth`)
    /// STARTTLS is required: no AUTH and no MAIL without TLS. For a
    /// connection without TLS use
    /// [`dangerous_plaintext`](Self::dangerous_plaintext) or set
    /// `mail.smtp.starttls.enable=false`.
    pub fn new(protocol: Protocol, host: impl Into<String>) -> Self {
        let host = host.into();
        let tls = TlsOptions {
            implicit: protocol == Protocol::Smtps,
            ..TlsOptions::default()
        };
        ClientSettings {
            protocol,
            port: None,
            host,
            from: None,
            message: crate::message::MessageSettings::default(),
            #[cfg(feature = "dkim")]
            dkim: None,
            local_name: None,
            local_address: None,
            local_port: None,
            connect_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(300),
            unix_socket: None,
            session: SessionOptions::default(),
            report_success: false,
            auth: AuthSettings::default(),
            tls,
            proxy: None,
            socks_host: None,
            socks_port: None,
            http_proxy_host: None,
            http_proxy_port: None,
            proxy_user: None,
            proxy_password: None,
            unknown_keys: Vec::new(),
        }
    }

    /// Settings that never use TLS: STARTTLS off, so SCRAM and the other
    /// mechanisms that do not reveal the password may authenticate in
    /// plaintext; PLAIN, LOGIN and bearer tokens are still refused in the
    /// clear unless [`AuthSettings::allow_plaintext`] is set too. For test
    /// servers and trusted local relays.
    pub fn dangerous_plaintext(host: impl Into<String>) -> Self {
        let mut settings = ClientSettings::new(Protocol::Smtp, host);
        settings.tls.starttls_enable = false;
        settings
    }

    /// Reads properties (later pairs win), starting from the secure
    /// defaults of [`new`](Self::new): `mail.smtp.starttls.enable=false`
    /// turns STARTTLS off. Keys outside the protocol's
    /// prefix are ignored, as JavaMail ignores other providers' keys.
    ///
    /// A password is never a property (JavaMail takes it as an argument
    /// to `connect`): set it on the result, as the last lines show.
    ///
    /// # Errors
    /// A [`PropertyError`] for the first malformed or unsupported value.
    ///
    /// ```
    /// use smtpkit_client::{ClientSettings, Protocol};
    /// use smtpkit_proto::Secret;
    ///
    /// let settings = ClientSettings::from_properties(Protocol::Smtp, [
    ///     ("mail.smtp.host", "mx.example.org"),
    ///     ("mail.smtp.port", "2525"),
    ///     ("mail.smtp.sendpartial", "true"),
    ///     ("mail.smtp.timeout", "30000"),
    ///     ("mail.smtp.colour", "blue"),
    /// ])?;
    /// assert_eq!((settings.host.as_str(), settings.port()), ("mx.example.org", 2525));
    /// assert!(settings.session.send_partial);
    /// assert_eq!(settings.unknown_keys, ["mail.smtp.colour"]);
    /// assert!(ClientSettings::from_properties(Protocol::Smtp, [("mail.smtp.port", "25x")]).is_err());
    ///
    /// let mut settings = ClientSettings::from_properties(Protocol::Smtp, [
    ///     ("mail.smtp.auth", "true"),
    ///     ("mail.smtp.user", "alice"),
    /// ])?;
    /// settings.auth.credentials.password = Secret::new("Wonderland-2026");
    /// assert!(settings.auth.enabled);
    /// # Ok::<(), smtpkit_client::PropertyError>(())
    /// ```
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        protocol: Protocol,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ClientSettings, PropertyError> {
        let mut settings = ClientSettings::new(protocol, "localhost");
        for (key, value) in properties {
            settings.set(key.as_ref(), value.as_ref())?;
        }
        Ok(settings)
    }

    /// Applies one property, through [`KEYS`]: the one table that names
    /// every key, applies its value, and decides what is unknown.
    ///
    /// # Errors
    /// A [`PropertyError`] when the value is malformed or unsupported.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PropertyError> {
        let Some(name) = key.strip_prefix(self.protocol.prefix()) else {
            return Ok(());
        };
        let err = |reason: String| PropertyError {
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        };
        if let Some(mechanism) = name
            .strip_prefix("auth.")
            .and_then(|m| m.strip_suffix(".disable"))
            .filter(|m| !m.is_empty() && !m.contains('.'))
        {
            let disable = Value(value).boolean().map_err(err)?;
            let mechanism = mechanism.to_ascii_uppercase();
            self.auth.disabled.retain(|m| *m != mechanism);
            self.auth.enabled_explicitly.retain(|m| *m != mechanism);
            if disable {
                self.auth.disabled.push(mechanism);
            } else {
                self.auth.enabled_explicitly.push(mechanism);
            }
            return Ok(());
        }
        match KEYS.iter().find(|k| k.name == name) {
            Some(k) => (k.apply)(self, Value(value)).map_err(err),
            None => {
                self.unknown_keys.push(key.to_owned());
                Ok(())
            }
        }
    }

    /// The port to connect to: [`port`](Self::port) when set (in code or by
    /// `mail.smtp.port`), else 465 with implicit TLS (`mail.smtp.ssl.enable`,
    /// smtps) and 25 without.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.protocol {
            Protocol::Lmtp => 24,
            _ if self.tls.implicit => 465,
            _ => 25,
        })
    }

    /// The proxy to use: [`proxy`](Self::proxy) when set in code, else
    /// `mail.smtp.proxy.host` (HTTP CONNECT, port 80 by default, with
    /// `mail.smtp.proxy.user` / `.password`), else `mail.smtp.socks.host`
    /// (SOCKS5, port 1080 by default; its credentials are set in code, as
    /// JavaMail takes them from an `Authenticator`). None for a Unix socket.
    pub fn effective_proxy(&self) -> Option<ProxySettings> {
        if self.unix_socket.is_some() {
            return None;
        }
        if let Some(proxy) = &self.proxy {
            return Some(proxy.clone());
        }
        if let Some(host) = &self.http_proxy_host {
            let mut proxy = ProxySettings::new(
                ProxyKind::HttpConnect,
                host.clone(),
                self.http_proxy_port.unwrap_or(80),
            );
            proxy.user = self.proxy_user.clone();
            proxy.password = self.proxy_password.clone();
            return Some(proxy);
        }
        self.socks_host.as_ref().map(|host| {
            ProxySettings::new(
                ProxyKind::Socks5,
                host.clone(),
                self.socks_port.unwrap_or(1080),
            )
        })
    }

    /// The session configuration for a connection: every setting in its
    /// one place here, with the EHLO name (`local_name`, or `default_name`
    /// when unset), the authenticator when authentication is on, and a
    /// rustls connector whenever STARTTLS or implicit TLS may be used.
    /// Every client calls this, so these decisions live once.
    ///
    /// # Errors
    /// A [`TlsErrorKind::Config`](smtpkit_proto::TlsErrorKind::Config) error
    /// from the TLS settings (a CA file, a client key, a protocol name).
    pub fn session_config(&self, default_name: Host) -> Result<SessionConfig, TlsError> {
        let mut c = SessionConfig::new(
            self.local_name.clone().unwrap_or(default_name),
            self.host.clone(),
        );
        c.options = self.session.clone();
        c.lmtp = self.protocol == Protocol::Lmtp;
        c.starttls = self.starttls_policy();
        c.implicit_tls = self.tls.implicit;
        if let Some(chooser) = self.chooser() {
            c.authenticator = Some(Arc::new(chooser));
        }
        if c.implicit_tls || c.starttls != StartTlsPolicy::Never {
            c.tls = Some(self.tls.load()?.connector()?);
        }
        Ok(c)
    }

    /// The STARTTLS policy the session follows: [`TlsOptions::policy`],
    /// except that credentials never cross a connection without TLS unless
    /// the caller said so by name: with authentication on, opportunistic
    /// STARTTLS becomes required, so a server (or a man in the middle) that
    /// does not offer it ends the session before AUTH or MAIL. The names
    /// that opt out: STARTTLS turned off ([`dangerous_plaintext`](Self::dangerous_plaintext),
    /// `mail.smtp.starttls.enable=false`, `smtp-send --tls none`) and
    /// [`AuthSettings::allow_plaintext`] (`--allow-plaintext-auth`).
    pub fn starttls_policy(&self) -> StartTlsPolicy {
        let policy = self.tls.policy();
        if policy == StartTlsPolicy::Opportunistic
            && self.authenticates()
            && !self.auth.allow_plaintext
        {
            StartTlsPolicy::Required
        } else {
            policy
        }
    }

    /// Whether the session authenticates: `mail.smtp.auth`, or a user and
    /// password given (JavaMail authenticates when `connect` gets them).
    pub fn authenticates(&self) -> bool {
        let c = &self.auth.credentials;
        #[cfg(feature = "oauth2")]
        if self.auth.tokens.is_some() {
            return true;
        }
        self.auth.enabled || !(c.user.is_empty() || c.password.expose().is_empty())
    }

    /// The mechanism chooser these settings describe, when authenticating.
    pub fn chooser(&self) -> Option<smtpkit_auth::Chooser> {
        if !self.authenticates() {
            return None;
        }
        let a = &self.auth;
        let mut credentials = a.credentials.clone();
        credentials.host = self.host.clone();
        credentials.port = Some(self.port());
        let mut chooser =
            smtpkit_auth::Chooser::new(credentials).allow_plaintext(a.allow_plaintext);
        let list = match (&a.sasl_mechanisms, &a.mechanisms) {
            (Some(sasl), _) if a.sasl_enable => Some(sasl.clone()),
            (_, Some(list)) => Some(list.clone()),
            #[cfg(feature = "oauth2")]
            _ if a.tokens.is_some() => Some(crate::oauth2::TOKEN_MECHANISMS.to_owned()),
            _ => None,
        };
        match list {
            Some(list) => chooser = chooser.mechanisms(&list),
            // `auth.xoauth2.disable=false` and the like opt a mechanism in.
            None => {
                for m in &a.enabled_explicitly {
                    chooser = chooser.enable(m);
                }
            }
        }
        for m in &a.disabled {
            chooser = chooser.disable(m);
        }
        Some(chooser)
    }
}

/// A property value, read strictly.
struct Value<'a>(&'a str);

impl Value<'_> {
    fn boolean(&self) -> Result<bool, String> {
        match self.0.trim() {
            v if v.eq_ignore_ascii_case("true") => Ok(true),
            v if v.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err("expected true or false".into()),
        }
    }

    fn integer(&self) -> Result<i64, String> {
        self.0
            .trim()
            .parse::<i64>()
            .map_err(|_| "expected an integer".into())
    }

    /// Milliseconds; 0 or less is "forever", as in JavaMail.
    fn millis(&self) -> Result<Duration, String> {
        self.integer().map(|ms| {
            if ms <= 0 {
                Duration::MAX
            } else {
                Duration::from_millis(ms.unsigned_abs())
            }
        })
    }

    fn port(&self) -> Result<u16, String> {
        self.integer().and_then(|p| {
            u16::try_from(p)
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| "expected a port, 1 to 65535".into())
        })
    }

    /// A port, or nothing for an empty value.
    fn optional_port(&self) -> Result<Option<u16>, String> {
        if self.0.trim().is_empty() {
            Ok(None)
        } else {
            self.port().map(Some)
        }
    }

    /// Trimmed text, or nothing for an empty value.
    fn text(&self) -> Option<String> {
        Some(self.0.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn host(&self) -> Result<String, String> {
        Host::parse(self.0.trim()).map_err(|e| e.to_string())?;
        Ok(self.0.trim().to_owned())
    }
}

/// One `mail.smtp.*` key (the name after the prefix) and how its value is
/// applied; `example` is a valid value, applied by the test that checks
/// every key, and `auth.<mech>.disable` is matched by pattern in
/// [`ClientSettings::set`].
pub struct Key {
    /// The name after `mail.smtp.` / `mail.smtps.`.
    pub name: &'static str,
    /// A valid value.
    pub example: &'static str,
    apply: fn(&mut ClientSettings, Value<'_>) -> Result<(), String>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Accepted, validated, and without effect (with why in the module docs).
fn validated_only(result: Result<impl Sized, String>) -> Result<(), String> {
    result.map(drop)
}

const SOCKET_FACTORY_CLASS: &str = "names a Java class; in Rust, hand the client a connected stream \
     (smtpkit_blocking::Client::from_transport) or a rustls ClientConfig \
     (smtpkit_tls::RustlsConnector) instead";

/// Every key JavaMail's SMTP provider defines, in one table: what
/// [`ClientSettings::set`] applies, what it reports as unknown, and what
/// the module docs list (a test keeps the three in step).
pub const KEYS: &[Key] = &[
    Key {
        name: "host",
        example: "mx.example",
        apply: |s, v| {
            s.host = v.host()?;
            Ok(())
        },
    },
    Key {
        name: "port",
        example: "587",
        apply: |s, v| {
            s.port = Some(v.port()?);
            Ok(())
        },
    },
    Key {
        name: "user",
        example: "u",
        apply: |s, v| {
            s.auth.credentials.user = v.0.to_owned();
            Ok(())
        },
    },
    Key {
        name: "from",
        example: "a@b.example",
        apply: |s, v| {
            let t = v.0.trim();
            s.from = Some(if t.is_empty() || t == "<>" {
                ReversePath::Null
            } else {
                ReversePath::Mailbox(
                    Address::parse(t.trim_start_matches('<').trim_end_matches('>'))
                        .map_err(|e| e.to_string())?,
                )
            });
            Ok(())
        },
    },
    Key {
        name: "setdate",
        example: "false",
        apply: |s, v| {
            s.message.add_date = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "setmessageid",
        example: "false",
        apply: |s, v| {
            s.message.add_message_id = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "allowlonglines",
        example: "true",
        apply: |s, v| {
            s.message.allow_long_lines = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "localhost",
        example: "client.example",
        apply: |s, v| {
            // EHLO goes out before the server could offer SMTPUTF8.
            if !v.0.is_ascii() {
                return Err("the EHLO name must be ASCII: use the A-label form (xn--...)".into());
            }
            s.local_name = Some(Host::parse(v.0.trim()).map_err(|e| e.to_string())?);
            Ok(())
        },
    },
    Key {
        name: "localaddress",
        example: "127.0.0.1",
        apply: |s, v| {
            s.local_address = v.text();
            Ok(())
        },
    },
    Key {
        name: "localport",
        example: "40000",
        apply: |s, v| {
            s.local_port = v.optional_port()?;
            Ok(())
        },
    },
    Key {
        name: "connectiontimeout",
        example: "1000",
        apply: |s, v| {
            s.connect_timeout = v.millis()?;
            Ok(())
        },
    },
    Key {
        name: "timeout",
        example: "1000",
        apply: |s, v| {
            s.session.timeouts = Timeouts::uniform(v.millis()?);
            Ok(())
        },
    },
    Key {
        name: "writetimeout",
        example: "1000",
        apply: |s, v| {
            s.write_timeout = v.millis()?;
            Ok(())
        },
    },
    Key {
        name: "ehlo",
        example: "false",
        apply: |s, v| {
            s.session.use_ehlo = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "sendpartial",
        example: "true",
        apply: |s, v| {
            s.session.send_partial = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "reportsuccess",
        example: "true",
        apply: |s, v| {
            s.report_success = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "quitwait",
        example: "false",
        apply: |s, v| {
            s.session.quit_wait = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "quitonsessionreject",
        example: "true",
        apply: |s, v| {
            s.session.quit_on_session_reject = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "userset",
        example: "true",
        apply: |s, v| {
            s.session.use_rset_for_liveness = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "noop.strict",
        example: "false",
        apply: |s, v| {
            s.session.noop_strict = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "allow8bitmime",
        example: "true",
        apply: |_, v| validated_only(v.boolean()),
    },
    Key {
        name: "mailextension",
        example: "XVERP",
        apply: |s, v| {
            let params = EsmtpParam::parse_list(v.0).map_err(|e| e.to_string())?;
            for (i, p) in params.iter().enumerate() {
                if p.is_set_by_the_session() {
                    return Err(format!(
                        "{} is set by the client itself (from the message and what the server offers)",
                        p.keyword()
                    ));
                }
                if params[..i]
                    .iter()
                    .any(|q| q.keyword().eq_ignore_ascii_case(p.keyword()))
                {
                    return Err(format!("{} is given twice", p.keyword()));
                }
            }
            s.session.mail_extension = params;
            Ok(())
        },
    },
    Key {
        name: "submitter",
        example: "x@y.example",
        apply: |s, v| {
            s.session.submitter = Some(if v.0.trim() == "<>" {
                MailAuth::Unknown
            } else {
                MailAuth::identity(v.0.trim()).map_err(|e| e.to_string())?
            });
            Ok(())
        },
    },
    Key {
        name: "dsn.notify",
        example: "SUCCESS,FAILURE",
        apply: |s, v| {
            s.session.dsn_notify = Some(
                v.0.parse()
                    .map_err(|e: smtpkit_proto::InvalidInput| e.to_string())?,
            );
            Ok(())
        },
    },
    Key {
        name: "dsn.ret",
        example: "HDRS",
        apply: |s, v| {
            s.session.dsn_ret = Some(
                v.0.parse()
                    .map_err(|e: smtpkit_proto::InvalidInput| e.to_string())?,
            );
            Ok(())
        },
    },
    Key {
        name: "chunksize",
        example: "0",
        apply: |s, v| {
            let n = v.integer()?;
            s.session.chunking = n > 0;
            if n > 0 {
                s.session.chunk_size = usize::try_from(n).map_err(|_| "too large".to_owned())?;
            }
            Ok(())
        },
    },
    Key {
        name: "chunking.pipelinefirst",
        example: "true",
        apply: |s, v| {
            s.session.pipeline_first_chunk = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "auth",
        example: "false",
        apply: |s, v| {
            s.auth.enabled = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "sasl.enable",
        example: "false",
        apply: |s, v| {
            s.auth.sasl_enable = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "auth.mechanisms",
        example: "",
        apply: |s, v| {
            s.auth.mechanisms = v.text();
            Ok(())
        },
    },
    Key {
        name: "sasl.mechanisms",
        example: "",
        apply: |s, v| {
            s.auth.sasl_mechanisms = v.text();
            Ok(())
        },
    },
    Key {
        name: "sasl.authorizationid",
        example: "",
        apply: |s, v| {
            s.auth.credentials.authzid = v.text();
            Ok(())
        },
    },
    Key {
        name: "sasl.realm",
        example: "",
        apply: |s, v| {
            s.auth.credentials.realm = v.text();
            Ok(())
        },
    },
    Key {
        name: "auth.ntlm.domain",
        example: "",
        apply: |s, v| {
            s.auth.credentials.ntlm_domain = v.text();
            Ok(())
        },
    },
    Key {
        name: "auth.ntlm.flags",
        example: "",
        apply: |s, v| {
            s.auth.credentials.ntlm_flags = match v.0.trim() {
                "" => None,
                t => Some(
                    t.parse::<i64>()
                        .ok()
                        .and_then(|n| {
                            u32::try_from(n)
                                .ok()
                                .or_else(|| i32::try_from(n).ok().map(|n| n as u32))
                        })
                        .ok_or_else(|| "expected a 32-bit integer".to_owned())?,
                ),
            };
            Ok(())
        },
    },
    Key {
        name: "ssl.enable",
        example: "false",
        apply: |s, v| {
            s.tls.implicit = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "starttls.enable",
        example: "false",
        apply: |s, v| {
            s.tls.starttls_enable = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "starttls.required",
        example: "false",
        apply: |s, v| {
            s.tls.starttls_required = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "ssl.checkserveridentity",
        example: "true",
        apply: |s, v| {
            s.tls.settings.check_server_identity = v.boolean()?;
            Ok(())
        },
    },
    Key {
        name: "ssl.trust",
        example: "",
        apply: |s, v| {
            s.tls.settings.trust = Trust::parse(v.0);
            Ok(())
        },
    },
    Key {
        name: "ssl.protocols",
        example: "",
        apply: |s, v| {
            s.tls.settings.protocols = v.0.split_whitespace().map(str::to_owned).collect();
            Ok(())
        },
    },
    Key {
        name: "ssl.ciphersuites",
        example: "",
        apply: |s, v| {
            s.tls.settings.cipher_suites = v.0.split_whitespace().map(str::to_owned).collect();
            Ok(())
        },
    },
    Key {
        name: "socketFactory.fallback",
        example: "true",
        apply: |_, v| validated_only(v.boolean()),
    },
    Key {
        name: "socketFactory.port",
        example: "",
        apply: |_, v| validated_only(v.optional_port()),
    },
    Key {
        name: "ssl.socketFactory.port",
        example: "",
        apply: |_, v| validated_only(v.optional_port()),
    },
    Key {
        name: "socketFactory",
        example: "",
        apply: |_, v| no_class(v),
    },
    Key {
        name: "socketFactory.class",
        example: "",
        apply: |_, v| no_class(v),
    },
    Key {
        name: "ssl.socketFactory",
        example: "",
        apply: |_, v| no_class(v),
    },
    Key {
        name: "ssl.socketFactory.class",
        example: "",
        apply: |_, v| no_class(v),
    },
    Key {
        name: "socks.host",
        example: "",
        apply: |s, v| {
            s.socks_host = v.text();
            Ok(())
        },
    },
    Key {
        name: "socks.port",
        example: "",
        apply: |s, v| {
            s.socks_port = v.optional_port()?;
            Ok(())
        },
    },
    Key {
        name: "proxy.host",
        example: "",
        apply: |s, v| {
            s.http_proxy_host = v.text();
            Ok(())
        },
    },
    Key {
        name: "proxy.port",
        example: "",
        apply: |s, v| {
            s.http_proxy_port = v.optional_port()?;
            Ok(())
        },
    },
    Key {
        name: "proxy.user",
        example: "",
        apply: |s, v| {
            s.proxy_user = Some(v.0.to_owned()).filter(|v| !v.is_empty());
            Ok(())
        },
    },
    Key {
        name: "proxy.password",
        example: "",
        apply: |s, v| {
            s.proxy_password = Some(Secret::new(v.0)).filter(|v| !v.expose().is_empty());
            Ok(())
        },
    },
];

fn no_class(v: Value<'_>) -> Result<(), String> {
    if v.0.trim().is_empty() {
        Ok(())
    } else {
        Err(SOCKET_FACTORY_CLASS.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JavaMail 1.6's SMTP keys (the seed's list): every one is in the table.
    const SEED_KEYS: &[&str] = &[
        "user",
        "host",
        "port",
        "connectiontimeout",
        "timeout",
        "from",
        "localhost",
        "localaddress",
        "localport",
        "ehlo",
        "auth",
        "auth.mechanisms",
        "auth.login.disable",
        "auth.plain.disable",
        "auth.digest-md5.disable",
        "auth.ntlm.disable",
        "auth.ntlm.domain",
        "auth.ntlm.flags",
        "submitter",
        "dsn.notify",
        "dsn.ret",
        "sendpartial",
        "sasl.enable",
        "sasl.mechanisms",
        "sasl.authorizationid",
        "sasl.realm",
        "quitwait",
        "reportsuccess",
        "socketFactory",
        "socketFactory.class",
        "socketFactory.fallback",
        "socketFactory.port",
        "ssl.enable",
        "ssl.checkserveridentity",
        "ssl.trust",
        "ssl.socketFactory",
        "ssl.socketFactory.class",
        "ssl.socketFactory.port",
        "ssl.protocols",
        "starttls.enable",
        "starttls.required",
        "socks.host",
        "socks.port",
        "mailextension",
        "userset",
        "writetimeout",
        "chunksize",
        "noop.strict",
        "quitonsessionreject",
        "allow8bitmime",
        "ssl.ciphersuites",
        "proxy.host",
        "proxy.port",
        "proxy.user",
        "proxy.password",
        "auth.xoauth2.disable",
    ];

    #[test]
    fn every_seed_key_is_in_the_table() {
        for key in SEED_KEYS {
            let known = KEYS.iter().any(|k| k.name == *key)
                || (key.starts_with("auth.") && key.ends_with(".disable"));
            assert!(known, "{key}");
        }
    }

    #[test]
    fn every_key_applies_its_example_under_both_prefixes() {
        for protocol in [Protocol::Smtp, Protocol::Smtps] {
            let pairs = KEYS
                .iter()
                .map(|k| (format!("{}{}", protocol.prefix(), k.name), k.example));
            let s = ClientSettings::from_properties(protocol, pairs).unwrap();
            assert!(s.unknown_keys.is_empty(), "{:?}", s.unknown_keys);
            assert_eq!(s.port(), 587);
            assert!(!s.session.use_ehlo && s.session.send_partial && !s.session.quit_wait);
            assert!(
                s.session.use_rset_for_liveness && !s.session.noop_strict && !s.session.chunking
            );
            assert!(s.session.pipeline_first_chunk);
            assert_eq!(
                s.session.timeouts,
                Timeouts::uniform(Duration::from_secs(1))
            );
            assert_eq!(s.local_port, Some(40000));
        }
    }

    /// The docs table at the top of this module lists exactly the keys of
    /// [`KEYS`] (plus the `auth.<mech>.disable` pattern).
    #[test]
    fn the_docs_table_lists_the_table() {
        let source = include_str!("settings.rs");
        let mut documented = Vec::new();
        for line in source.lines().filter(|l| l.starts_with("//! | `")) {
            let first = line.split('|').nth(1).unwrap_or("");
            for name in first.split('`').skip(1).step_by(2) {
                documented.push(name.to_owned());
            }
        }
        for key in KEYS {
            assert!(
                documented.iter().any(|d| d == key.name),
                "{} is not in the docs table",
                key.name
            );
        }
        for name in &documented {
            let known = KEYS.iter().any(|k| k.name == name) || name == "auth.<mech>.disable";
            assert!(known, "the docs table lists {name}, which is not a key");
        }
    }

    #[test]
    fn the_port_follows_implicit_tls_unless_set() {
        let mut s = ClientSettings::new(Protocol::Smtp, "mx.example");
        assert_eq!(s.port(), 25);
        s.set("mail.smtp.ssl.enable", "true").unwrap();
        assert_eq!(s.port(), 465);
        s.tls.implicit = false;
        assert_eq!(
            s.port(),
            25,
            "the typed field and the property are one setting"
        );
        s.port = Some(2525);
        s.set("mail.smtp.ssl.enable", "true").unwrap();
        assert_eq!(s.port(), 2525, "a port someone chose stays");
        assert_eq!(
            ClientSettings::new(Protocol::Smtps, "mx.example").port(),
            465
        );
    }

    #[test]
    fn malformed_values_name_the_key() {
        for (key, value) in [
            ("mail.smtp.port", "0"),
            ("mail.smtp.port", "70000"),
            ("mail.smtp.sendpartial", "yes"),
            ("mail.smtp.chunking.pipelinefirst", "1"),
            ("mail.smtp.timeout", "soon"),
            ("mail.smtp.dsn.notify", "SOMETIMES"),
            ("mail.smtp.dsn.ret", "ALL"),
            ("mail.smtp.mailextension", "X=a b=\r\n"),
            ("mail.smtp.from", "not an address"),
            ("mail.smtp.localhost", "bad_name"),
            ("mail.smtp.ssl.socketFactory.class", "com.example.Factory"),
            ("mail.smtp.socks.port", "socks"),
            ("mail.smtp.proxy.port", "-1"),
            ("mail.smtp.mailextension", "SIZE=1"),
            ("mail.smtp.mailextension", "XVERP body=8BITMIME"),
            ("mail.smtp.mailextension", "XVERP XVERP"),
            ("mail.smtp.localhost", "ex\u{e4}mple.org"),
        ] {
            let e = ClientSettings::from_properties(Protocol::Smtp, [(key, value)]).unwrap_err();
            assert_eq!(e.key, key);
        }
        // Other protocols' keys are ignored.
        let s =
            ClientSettings::from_properties(Protocol::Smtps, [("mail.smtp.port", "x")]).unwrap();
        assert_eq!(s.port(), 465);
        assert!(s.tls.implicit);
    }
}
