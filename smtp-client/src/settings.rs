//! JavaMail-style configuration: `mail.smtp.*` (and `mail.smtps.*`)
//! properties turned into typed settings, once, for every adapter.
//!
//! | key | setting | our default (JavaMail's) |
//! |---|---|---|
//! | `host`, `port` | [`ClientSettings::host`], [`ClientSettings::port`] | `localhost`, 25; 465 for smtps |
//! | `user` | [`ClientSettings::user`] | — |
//! | `from` | [`ClientSettings::from`] | the message's From: |
//! | `localhost` | [`ClientSettings::local_name`] | host name, else address literal of the local address |
//! | `localaddress`, `localport` | [`ClientSettings::local_address`], [`ClientSettings::local_port`] | — |
//! | `connectiontimeout` (ms) | [`ClientSettings::connect_timeout`] | 5 minutes (infinite) |
//! | `timeout` (ms) | [`SessionOptions::timeouts`], all phases | RFC 5321 §4.5.3.2 per phase (infinite) |
//! | `writetimeout` (ms) | [`ClientSettings::write_timeout`] | 5 minutes (infinite) |
//! | `ehlo` | [`SessionOptions::use_ehlo`] | true |
//! | `sendpartial` | [`SessionOptions::send_partial`] | false |
//! | `reportsuccess` | [`SessionOptions::report_success`] | false |
//! | `quitwait` | [`SessionOptions::quit_wait`] | true |
//! | `quitonsessionreject` | [`SessionOptions::quit_on_session_reject`] | false |
//! | `userset` | [`SessionOptions::use_rset_for_liveness`] | false |
//! | `noop.strict` | [`SessionOptions::noop_strict`] | true |
//! | `mailextension` | [`SessionOptions::mail_extension`], validated | — |
//! | `submitter` | [`SessionOptions::submitter`] | — |
//! | `dsn.notify`, `dsn.ret` | [`SessionOptions::dsn_notify`], [`SessionOptions::dsn_ret`] | — |
//! | `chunksize` | [`SessionOptions::chunk_size`]; 0 or less disables BDAT | BDAT with 1 MiB chunks when offered (no BDAT) |
//! | `allow8bitmime` | accepted; BODY=8BITMIME is always declared when the content needs it and refused when the server lacks it | (false: converts encodings) |
//! | `auth` | [`AuthSettings::enabled`] (a user plus a password set in code also enables it) | false |
//! | `auth.mechanisms`, `sasl.enable`, `sasl.mechanisms` | [`AuthSettings::mechanisms`] / `sasl_mechanisms`: preference order | SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 DIGEST-MD5 NTLM PLAIN LOGIN (LOGIN PLAIN DIGEST-MD5 NTLM XOAUTH2) |
//! | `auth.<mech>.disable` | [`AuthSettings::disabled`]; `false` opts XOAUTH2/OAUTHBEARER/ANONYMOUS/EXTERNAL in | XOAUTH2 off unless asked (same) |
//! | `sasl.authorizationid`, `sasl.realm`, `auth.ntlm.domain`, `auth.ntlm.flags` | [`AuthSettings`] fields | — |
//! | (none) | [`AuthSettings::allow_plaintext`]: PLAIN/LOGIN without TLS | refused (JavaMail sends them in the clear) |
//! | `ssl.enable` | [`TlsOptions::implicit`]; port 465 unless set | false (smtp), true (smtps) |
//! | `starttls.enable`, `starttls.required` | [`TlsOptions::starttls_enable`], [`TlsOptions::starttls_required`]; required implies enabled | false |
//! | `ssl.checkserveridentity` | [`TlsOptions::check_server_identity`] | **true** (false in JavaMail 1.6) |
//! | `ssl.trust` | [`TlsOptions::trust`]: `*` or hosts trusted without verification | — |
//! | `ssl.protocols`, `ssl.ciphersuites` | [`TlsOptions::protocols`], [`TlsOptions::cipher_suites`] (rustls or IANA names) | TLSv1.2 and TLSv1.3 |
//! | `socks.host`, `socks.port` | SOCKS5 proxy, remote DNS, port 1080 by default; credentials in code ([`ProxySettings`]) | — |
//! | `proxy.host`, `proxy.port`, `proxy.user`, `proxy.password` | HTTP CONNECT proxy, port 80 by default, Basic auth | — |
//! | `socketFactory`, `socketFactory.class`, `ssl.socketFactory`, `ssl.socketFactory.class` | Java classes: an error; in Rust pass a connected stream (`smtp_blocking::Client::from_transport`) or a rustls `ClientConfig` (`smtp_tls::RustlsConnector`) | — |
//! | `socketFactory.port`, `ssl.socketFactory.port`, `socketFactory.fallback` | validated; they only apply to a socket factory | — |
//!
//! Values are read strictly: booleans are `true` or `false` (any case),
//! numbers are decimal; anything else is an error naming the key. Keys
//! under the prefix that are not in JavaMail's table are returned in
//! [`ClientSettings::unknown_keys`].

use std::time::Duration;

use std::sync::Arc;

use smtp_proto::{
    Address, DsnReturn, EsmtpParam, Host, MailAuth, Notify, ReplyLimits, ReversePath, Secret,
    SessionConfig, StartTlsPolicy, Timeouts,
};
use smtp_tls::{ClientCertificate, RootSource, TlsError, TlsSettings, Trust};

/// `smtp` or `smtps` (implicit TLS): which key prefix applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `mail.smtp.*`, port 25.
    Smtp,
    /// `mail.smtps.*`, port 465, implicit TLS.
    Smtps,
}

impl Protocol {
    /// The key prefix, with its trailing dot.
    pub fn prefix(self) -> &'static str {
        match self {
            Protocol::Smtp => "mail.smtp.",
            Protocol::Smtps => "mail.smtps.",
        }
    }

    /// The default port.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Smtp => 25,
            Protocol::Smtps => 465,
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
    /// The port (`mail.smtp.port`).
    pub port: u16,
    /// The default user name (`mail.smtp.user`).
    pub user: Option<String>,
    /// The envelope sender (`mail.smtp.from`).
    pub from: Option<ReversePath>,
    /// The EHLO name (`mail.smtp.localhost`); see
    /// [`default_ehlo_name`](smtp_proto::default_ehlo_name) when `None`.
    pub local_name: Option<Host>,
    /// Local address to bind (`mail.smtp.localaddress`).
    pub local_address: Option<String>,
    /// Local port to bind (`mail.smtp.localport`).
    pub local_port: Option<u16>,
    /// TCP connect timeout (`mail.smtp.connectiontimeout`).
    pub connect_timeout: Duration,
    /// Socket write timeout (`mail.smtp.writetimeout`).
    pub write_timeout: Duration,
    /// How the session behaves (`mail.smtp.ehlo`, `sendpartial`, the
    /// deadlines, …). What comes from elsewhere (the EHLO name, the server
    /// name, TLS, the authenticator) is not here, so it is set in one place
    /// only; [`ClientSettings::session_config`] assembles it all.
    pub session: SessionOptions,
    /// Authentication (`mail.smtp.auth*`, `mail.smtp.sasl.*`).
    pub auth: AuthSettings,
    /// TLS (`mail.smtp.ssl.*`, `mail.smtp.starttls.*`); `smtp-tls` turns
    /// it into a connector.
    pub tls: TlsOptions,
    /// Whether `port` was set explicitly (else `ssl.enable` picks 465).
    explicit_port: bool,
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
    /// As [`ProxyHandshake::socks5`](smtp_proto::proxy::ProxyHandshake::socks5)
    /// and `http_connect`.
    pub fn handshake(
        &self,
        host: &str,
        port: u16,
    ) -> Result<smtp_proto::proxy::ProxyHandshake, smtp_proto::proxy::ProxyError> {
        let credentials = self
            .user
            .as_deref()
            .map(|u| (u, self.password.clone().unwrap_or_default()));
        match self.kind {
            ProxyKind::Socks5 => smtp_proto::proxy::ProxyHandshake::socks5(host, port, credentials),
            ProxyKind::HttpConnect => {
                smtp_proto::proxy::ProxyHandshake::http_connect(host, port, credentials)
            }
        }
    }
}

/// TLS settings as data; `smtp_tls::TlsSettings::from_options` makes them
/// a rustls configuration.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Implicit TLS from the first byte (`mail.smtp.ssl.enable`; true for
    /// [`Protocol::Smtps`]).
    pub implicit: bool,
    /// `mail.smtp.starttls.enable`.
    pub starttls_enable: bool,
    /// `mail.smtp.starttls.required`.
    pub starttls_required: bool,
    /// `mail.smtp.ssl.checkserveridentity` (default true, unlike JavaMail
    /// 1.6).
    pub check_server_identity: bool,
    /// `mail.smtp.ssl.trust`: `*`, or hosts trusted without verification.
    pub trust: String,
    /// `mail.smtp.ssl.protocols`.
    pub protocols: Vec<String>,
    /// `mail.smtp.ssl.ciphersuites`.
    pub cipher_suites: Vec<String>,
    /// More trusted CA certificates (PEM files).
    pub ca_files: Vec<std::path::PathBuf>,
    /// More trusted CA certificates (PEM text).
    pub ca_pem: Vec<String>,
    /// Use only `ca_files` (and `trust`), not the platform's roots.
    pub only_extra_roots: bool,
    /// A client certificate chain (PEM file).
    pub client_cert: Option<std::path::PathBuf>,
    /// Its private key (PEM file).
    pub client_key: Option<std::path::PathBuf>,
    /// SHA-256 pins of the server's public key (SubjectPublicKeyInfo).
    pub pins: Vec<[u8; 32]>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            implicit: false,
            starttls_enable: false,
            starttls_required: false,
            check_server_identity: true,
            trust: String::new(),
            protocols: Vec::new(),
            cipher_suites: Vec::new(),
            ca_files: Vec::new(),
            ca_pem: Vec::new(),
            only_extra_roots: false,
            client_cert: None,
            client_key: None,
            pins: Vec::new(),
        }
    }
}

impl TlsOptions {
    /// The typed `smtp-tls` settings these options describe.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`](smtp_proto::TlsErrorKind::Config) when a
    /// client certificate or key file cannot be read.
    pub fn settings(&self) -> Result<TlsSettings, TlsError> {
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path)
                .map_err(|e| smtp_tls::config_error(format!("{}: {e}", path.display())))
        };
        let client_certificate = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(ClientCertificate {
                chain_pem: read(cert)?,
                key_pem: read(key)?,
            }),
            (None, None) => None,
            _ => {
                return Err(smtp_tls::config_error(
                    "a client certificate needs both the chain and the key",
                ));
            }
        };
        let settings = TlsSettings {
            roots: if self.only_extra_roots {
                RootSource::None
            } else {
                RootSource::Platform
            },
            extra_ca_files: self.ca_files.clone(),
            extra_ca_pem: self.ca_pem.iter().map(|p| p.as_bytes().to_vec()).collect(),
            trust: Trust::parse(&self.trust),
            check_server_identity: self.check_server_identity,
            protocols: self.protocols.clone(),
            cipher_suites: self.cipher_suites.clone(),
            client_certificate,
            pins: self.pins.clone(),
            sni: true,
        };
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

/// Authentication settings; the password is never a property (JavaMail
/// takes it from `connect` or an `Authenticator`), set it in code.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// `mail.smtp.auth`.
    pub enabled: bool,
    /// The password or OAuth token.
    pub password: Option<Secret>,
    /// `mail.smtp.auth.mechanisms`: preference list.
    pub mechanisms: Option<String>,
    /// `mail.smtp.sasl.enable`.
    pub sasl_enable: bool,
    /// `mail.smtp.sasl.mechanisms` (used when `sasl_enable`).
    pub sasl_mechanisms: Option<String>,
    /// `mail.smtp.sasl.authorizationid`.
    pub authzid: Option<String>,
    /// `mail.smtp.sasl.realm`.
    pub realm: Option<String>,
    /// `mail.smtp.auth.ntlm.domain`.
    pub ntlm_domain: Option<String>,
    /// `mail.smtp.auth.ntlm.flags`.
    pub ntlm_flags: Option<u32>,
    /// Use NTLMv1 (only when asked).
    pub ntlm_v1: bool,
    /// `mail.smtp.auth.<mech>.disable=true`, upper-cased.
    pub disabled: Vec<String>,
    /// `mail.smtp.auth.<mech>.disable=false`: opted in (XOAUTH2 and the
    /// other mechanisms that are off by default).
    pub enabled_explicitly: Vec<String>,
    /// Allow PLAIN and LOGIN without TLS (a secure default JavaMail
    /// lacks: it sends them in the clear).
    pub allow_plaintext: bool,
}

/// How the session behaves: the `mail.smtp.*` switches that are the
/// session's alone. Defaults are JavaMail's where they are sound, with
/// PIPELINING and BDAT used when offered and RFC 5321 deadlines.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// `mail.smtp.ehlo`: false sends HELO only.
    pub use_ehlo: bool,
    /// Use PIPELINING when offered (RFC 2920).
    pub pipelining: bool,
    /// Use BDAT when CHUNKING is offered (RFC 3030; `mail.smtp.chunksize`
    /// of 0 or less turns it off).
    pub chunking: bool,
    /// BDAT chunk size in octets (`mail.smtp.chunksize`).
    pub chunk_size: usize,
    /// `mail.smtp.sendpartial`.
    pub send_partial: bool,
    /// `mail.smtp.reportsuccess`: list every accepted recipient with its
    /// reply in reports.
    pub report_success: bool,
    /// `mail.smtp.dsn.notify`, used for recipients without their own.
    pub dsn_notify: Option<Notify>,
    /// `mail.smtp.dsn.ret`.
    pub dsn_ret: Option<DsnReturn>,
    /// `mail.smtp.submitter`: the `AUTH=` parameter of MAIL.
    pub submitter: Option<MailAuth>,
    /// `mail.smtp.mailextension`: appended to every MAIL command.
    pub mail_extension: Vec<EsmtpParam>,
    /// `mail.smtp.quitwait`: wait for the reply to QUIT.
    pub quit_wait: bool,
    /// `mail.smtp.quitonsessionreject`: send QUIT after a refused greeting.
    pub quit_on_session_reject: bool,
    /// `mail.smtp.userset`: the liveness check sends RSET, not NOOP.
    pub use_rset_for_liveness: bool,
    /// `mail.smtp.noop.strict`: only 250 to the liveness check counts.
    pub noop_strict: bool,
    /// Reply deadlines (`mail.smtp.timeout` sets them all).
    pub timeouts: Timeouts,
    /// Bounds on server replies.
    pub reply_limits: ReplyLimits,
    /// Emit transcript lines (a transcript hook turns this on).
    pub transcript: bool,
    /// Most octets the session buffers for sending before it stops taking
    /// body data (backpressure).
    pub max_buffered: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        let core = SessionConfig::new(Host::from(std::net::IpAddr::from([127, 0, 0, 1])), "");
        SessionOptions {
            use_ehlo: core.use_ehlo,
            pipelining: core.pipelining,
            chunking: core.chunking,
            chunk_size: core.chunk_size,
            send_partial: core.send_partial,
            report_success: false,
            dsn_notify: core.dsn_notify,
            dsn_ret: core.dsn_ret,
            submitter: core.submitter,
            mail_extension: core.mail_extension,
            quit_wait: core.quit_wait,
            quit_on_session_reject: core.quit_on_session_reject,
            use_rset_for_liveness: core.use_rset_for_liveness,
            noop_strict: core.noop_strict,
            timeouts: core.timeouts,
            reply_limits: core.reply_limits,
            transcript: core.transcript,
            max_buffered: core.max_buffered,
        }
    }
}

impl ClientSettings {
    /// Defaults for `protocol` and `host`.
    pub fn new(protocol: Protocol, host: impl Into<String>) -> Self {
        let host = host.into();
        let tls = TlsOptions {
            implicit: protocol == Protocol::Smtps,
            ..TlsOptions::default()
        };
        ClientSettings {
            protocol,
            port: protocol.default_port(),
            host,
            user: None,
            from: None,
            local_name: None,
            local_address: None,
            local_port: None,
            connect_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(300),
            session: SessionOptions::default(),
            auth: AuthSettings::default(),
            tls,
            explicit_port: false,
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

    /// Reads properties (later pairs win). Keys outside the protocol's
    /// prefix are ignored, as JavaMail ignores other providers' keys.
    ///
    /// # Errors
    /// A [`PropertyError`] for the first malformed or unsupported value.
    ///
    /// ```
    /// use smtp_client::{ClientSettings, Protocol};
    ///
    /// let settings = ClientSettings::from_properties(Protocol::Smtp, [
    ///     ("mail.smtp.host", "mx.example.org"),
    ///     ("mail.smtp.port", "2525"),
    ///     ("mail.smtp.sendpartial", "true"),
    ///     ("mail.smtp.timeout", "30000"),
    ///     ("mail.smtp.colour", "blue"),
    /// ])?;
    /// assert_eq!((settings.host.as_str(), settings.port), ("mx.example.org", 2525));
    /// assert!(settings.session.send_partial);
    /// assert_eq!(settings.unknown_keys, ["mail.smtp.colour"]);
    /// assert!(ClientSettings::from_properties(Protocol::Smtp, [("mail.smtp.port", "25x")]).is_err());
    /// # Ok::<(), smtp_client::PropertyError>(())
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

    /// Applies one property.
    ///
    /// # Errors
    /// A [`PropertyError`] when the value is malformed or unsupported.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PropertyError> {
        let Some(name) = key.strip_prefix(self.protocol.prefix()) else {
            return Ok(());
        };
        let err = |reason: &str| PropertyError {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let boolean = || match value.trim() {
            v if v.eq_ignore_ascii_case("true") => Ok(true),
            v if v.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(err("expected true or false")),
        };
        let integer = || {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| err("expected an integer"))
        };
        let millis = || {
            integer().map(|ms| {
                if ms <= 0 {
                    Duration::MAX
                } else {
                    Duration::from_millis(ms.unsigned_abs())
                }
            })
        };
        let port = || {
            integer().and_then(|p| {
                u16::try_from(p)
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| err("expected a port, 1 to 65535"))
            })
        };

        let s = &mut self.session;
        match name {
            "host" => {
                Host::parse(value.trim()).map_err(|e| err(&e.to_string()))?;
                self.host = value.trim().to_owned();
            }
            "port" => {
                self.port = port()?;
                self.explicit_port = true;
            }
            "user" => self.user = Some(value.to_owned()),
            "from" => {
                let v = value.trim();
                self.from = Some(if v.is_empty() || v == "<>" {
                    ReversePath::Null
                } else {
                    ReversePath::Mailbox(
                        Address::parse(v.trim_start_matches('<').trim_end_matches('>'))
                            .map_err(|e| err(&e.to_string()))?,
                    )
                });
            }
            "localhost" => {
                self.local_name = Some(Host::parse(value.trim()).map_err(|e| err(&e.to_string()))?);
            }
            "localaddress" => self.local_address = Some(value.trim().to_owned()),
            "localport" => self.local_port = Some(port()?),
            "connectiontimeout" => self.connect_timeout = millis()?,
            "timeout" => s.timeouts = Timeouts::uniform(millis()?),
            "writetimeout" => self.write_timeout = millis()?,
            "ehlo" => s.use_ehlo = boolean()?,
            "sendpartial" => s.send_partial = boolean()?,
            "reportsuccess" => s.report_success = boolean()?,
            "quitwait" => s.quit_wait = boolean()?,
            "quitonsessionreject" => s.quit_on_session_reject = boolean()?,
            "userset" => s.use_rset_for_liveness = boolean()?,
            "noop.strict" => s.noop_strict = boolean()?,
            "allow8bitmime" => {
                boolean()?;
            }
            "mailextension" => {
                s.mail_extension =
                    EsmtpParam::parse_list(value).map_err(|e| err(&e.to_string()))?;
            }
            "submitter" => {
                s.submitter = Some(if value.trim() == "<>" {
                    MailAuth::Unknown
                } else {
                    MailAuth::identity(value.trim()).map_err(|e| err(&e.to_string()))?
                });
            }
            "dsn.notify" => {
                s.dsn_notify = Some(
                    value
                        .parse()
                        .map_err(|e: smtp_proto::InvalidInput| err(&e.to_string()))?,
                )
            }
            "dsn.ret" => {
                s.dsn_ret = Some(
                    value
                        .parse()
                        .map_err(|e: smtp_proto::InvalidInput| err(&e.to_string()))?,
                )
            }
            "chunksize" => {
                let n = integer()?;
                s.chunking = n > 0;
                if n > 0 {
                    s.chunk_size = usize::try_from(n).map_err(|_| err("too large"))?;
                }
            }
            "auth" => self.auth.enabled = boolean()?,
            "sasl.enable" => self.auth.sasl_enable = boolean()?,
            "auth.mechanisms" => {
                self.auth.mechanisms = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
            }
            "sasl.mechanisms" => {
                self.auth.sasl_mechanisms = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
            }
            "sasl.authorizationid" => {
                self.auth.authzid = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
            }
            "sasl.realm" => {
                self.auth.realm = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
            }
            "auth.ntlm.domain" => {
                self.auth.ntlm_domain = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
            }
            "auth.ntlm.flags" => {
                self.auth.ntlm_flags = match value.trim() {
                    "" => None,
                    v => Some(
                        v.parse::<i64>()
                            .ok()
                            .and_then(|n| {
                                u32::try_from(n)
                                    .ok()
                                    .or_else(|| i32::try_from(n).ok().map(|n| n as u32))
                            })
                            .ok_or_else(|| err("expected a 32-bit integer"))?,
                    ),
                }
            }
            _ if name.starts_with("auth.") && name.ends_with(".disable") => {
                let mechanism =
                    name["auth.".len()..name.len() - ".disable".len()].to_ascii_uppercase();
                self.auth.disabled.retain(|m| *m != mechanism);
                self.auth.enabled_explicitly.retain(|m| *m != mechanism);
                if boolean()? {
                    self.auth.disabled.push(mechanism);
                } else {
                    self.auth.enabled_explicitly.push(mechanism);
                }
            }
            "ssl.enable" => {
                self.tls.implicit = boolean()?;
                // Only a port nobody chose follows the protocol: one set by
                // `port` or directly in the field stays.
                let untouched = !self.explicit_port && (self.port == 25 || self.port == 465);
                if untouched {
                    self.port = if self.tls.implicit {
                        465
                    } else {
                        self.protocol.default_port()
                    };
                }
            }
            "starttls.enable" => self.tls.starttls_enable = boolean()?,
            "starttls.required" => self.tls.starttls_required = boolean()?,
            "ssl.checkserveridentity" => self.tls.check_server_identity = boolean()?,
            "ssl.trust" => self.tls.trust = value.trim().to_owned(),
            "ssl.protocols" => {
                self.tls.protocols = value.split_whitespace().map(str::to_owned).collect()
            }
            "ssl.ciphersuites" => {
                self.tls.cipher_suites = value.split_whitespace().map(str::to_owned).collect()
            }
            "socketFactory.fallback" => {
                boolean()?;
            }
            "socketFactory.port" | "ssl.socketFactory.port" => {
                if !value.trim().is_empty() {
                    port()?;
                }
            }
            "socketFactory"
            | "socketFactory.class"
            | "ssl.socketFactory"
            | "ssl.socketFactory.class" => {
                if !value.trim().is_empty() {
                    return Err(err(
                        "names a Java class; in Rust, hand the client a connected stream \
                         (smtp_blocking::Client::from_transport) or a rustls ClientConfig \
                         (smtp_tls::RustlsConnector) instead",
                    ));
                }
            }
            "socks.host" => {
                self.socks_host = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
            }
            "proxy.host" => {
                self.http_proxy_host = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
            }
            "socks.port" => {
                self.socks_port = if value.trim().is_empty() {
                    None
                } else {
                    Some(port()?)
                }
            }
            "proxy.port" => {
                self.http_proxy_port = if value.trim().is_empty() {
                    None
                } else {
                    Some(port()?)
                }
            }
            "proxy.user" => self.proxy_user = Some(value.to_owned()).filter(|v| !v.is_empty()),
            "proxy.password" => {
                self.proxy_password = Some(value.into()).filter(|v: &Secret| !v.expose().is_empty())
            }
            _ => self.unknown_keys.push(key.to_owned()),
        }
        Ok(())
    }

    /// The proxy to use: [`proxy`](Self::proxy) when set in code, else
    /// `mail.smtp.proxy.host` (HTTP CONNECT, port 80 by default, with
    /// `mail.smtp.proxy.user` / `.password`), else `mail.smtp.socks.host`
    /// (SOCKS5, port 1080 by default; its credentials are set in code, as
    /// JavaMail takes them from an `Authenticator`).
    pub fn effective_proxy(&self) -> Option<ProxySettings> {
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
    /// A [`TlsErrorKind::Config`](smtp_proto::TlsErrorKind::Config) error
    /// from the TLS settings (a CA file, a client key, a protocol name).
    pub fn session_config(&self, default_name: Host) -> Result<SessionConfig, TlsError> {
        let o = &self.session;
        let mut c = SessionConfig::new(
            self.local_name.clone().unwrap_or(default_name),
            self.host.clone(),
        );
        c.use_ehlo = o.use_ehlo;
        c.starttls = self.tls.policy();
        c.implicit_tls = self.tls.implicit;
        c.pipelining = o.pipelining;
        c.chunking = o.chunking;
        c.chunk_size = o.chunk_size;
        c.send_partial = o.send_partial;
        c.dsn_notify = o.dsn_notify;
        c.dsn_ret = o.dsn_ret;
        c.submitter = o.submitter.clone();
        c.mail_extension = o.mail_extension.clone();
        c.quit_wait = o.quit_wait;
        c.quit_on_session_reject = o.quit_on_session_reject;
        c.use_rset_for_liveness = o.use_rset_for_liveness;
        c.noop_strict = o.noop_strict;
        c.timeouts = o.timeouts;
        c.reply_limits = o.reply_limits;
        c.transcript = o.transcript;
        c.max_buffered = o.max_buffered;
        if let Some(chooser) = self.chooser() {
            c.authenticator = Some(Arc::new(chooser));
        }
        if c.implicit_tls || c.starttls != StartTlsPolicy::Never {
            c.tls = Some(self.tls.settings()?.connector()?);
        }
        Ok(c)
    }

    /// Whether the session authenticates: `mail.smtp.auth`, or a user and
    /// password given (JavaMail authenticates when `connect` gets them).
    pub fn authenticates(&self) -> bool {
        self.auth.enabled || (self.user.is_some() && self.auth.password.is_some())
    }

    /// The mechanism chooser these settings describe, when authenticating.
    pub fn chooser(&self) -> Option<smtp_auth::Chooser> {
        if !self.authenticates() {
            return None;
        }
        let a = &self.auth;
        let credentials = smtp_auth::Credentials {
            user: self.user.clone().unwrap_or_default(),
            password: a.password.clone().unwrap_or_default(),
            authzid: a.authzid.clone(),
            realm: a.realm.clone(),
            ntlm_domain: a.ntlm_domain.clone(),
            ntlm_workstation: None,
            ntlm_flags: a.ntlm_flags,
            ntlm_v1: a.ntlm_v1,
            host: self.host.clone(),
            port: Some(self.port),
        };
        let mut chooser = smtp_auth::Chooser::new(credentials).allow_plaintext(a.allow_plaintext);
        let list = match (&a.sasl_mechanisms, &a.mechanisms) {
            (Some(sasl), _) if a.sasl_enable => Some(sasl.clone()),
            (_, Some(list)) => Some(list.clone()),
            _ => None,
        };
        match list {
            Some(list) => chooser = chooser.mechanisms(&list),
            None if !a.enabled_explicitly.is_empty() => {
                // `auth.xoauth2.disable=false` and the like opt a mechanism in.
                let mut order: Vec<String> = smtp_auth::DEFAULT_ORDER
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                order.extend(a.enabled_explicitly.iter().cloned());
                chooser = chooser.mechanisms(&order.join(" "));
            }
            None => {}
        }
        for m in &a.disabled {
            chooser = chooser.disable(m);
        }
        Some(chooser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_key_is_recognised() {
        let keys = [
            ("user", "u"),
            ("host", "mx.example"),
            ("port", "587"),
            ("connectiontimeout", "1000"),
            ("timeout", "1000"),
            ("from", "a@b.example"),
            ("localhost", "client.example"),
            ("localaddress", "127.0.0.1"),
            ("localport", "40000"),
            ("ehlo", "false"),
            ("auth", "false"),
            ("auth.mechanisms", ""),
            ("auth.login.disable", "true"),
            ("auth.plain.disable", "false"),
            ("auth.digest-md5.disable", "true"),
            ("auth.ntlm.disable", "true"),
            ("auth.ntlm.domain", ""),
            ("auth.ntlm.flags", ""),
            ("submitter", "x@y.example"),
            ("dsn.notify", "SUCCESS,FAILURE"),
            ("dsn.ret", "HDRS"),
            ("sendpartial", "true"),
            ("sasl.enable", "false"),
            ("sasl.mechanisms", ""),
            ("sasl.authorizationid", ""),
            ("sasl.realm", ""),
            ("quitwait", "false"),
            ("reportsuccess", "true"),
            ("socketFactory", ""),
            ("socketFactory.class", ""),
            ("socketFactory.fallback", "true"),
            ("socketFactory.port", ""),
            ("ssl.enable", "false"),
            ("ssl.checkserveridentity", "true"),
            ("ssl.trust", ""),
            ("ssl.socketFactory", ""),
            ("ssl.socketFactory.class", ""),
            ("ssl.socketFactory.port", ""),
            ("ssl.protocols", ""),
            ("starttls.enable", "false"),
            ("starttls.required", "false"),
            ("socks.host", ""),
            ("socks.port", ""),
            ("mailextension", "XVERP"),
            ("userset", "true"),
            ("writetimeout", "1000"),
            ("chunksize", "0"),
            ("noop.strict", "false"),
            ("quitonsessionreject", "true"),
            ("allow8bitmime", "true"),
            ("ssl.ciphersuites", ""),
            ("proxy.host", ""),
            ("proxy.port", ""),
            ("proxy.user", ""),
            ("proxy.password", ""),
            ("auth.xoauth2.disable", "true"),
        ];
        for protocol in [Protocol::Smtp, Protocol::Smtps] {
            let pairs = keys
                .iter()
                .map(|(k, v)| (format!("{}{k}", protocol.prefix()), *v));
            let s = ClientSettings::from_properties(protocol, pairs).unwrap();
            assert!(s.unknown_keys.is_empty(), "{:?}", s.unknown_keys);
            assert_eq!(s.port, 587);
            assert!(!s.session.use_ehlo && s.session.send_partial && !s.session.quit_wait);
            assert!(
                s.session.use_rset_for_liveness && !s.session.noop_strict && !s.session.chunking
            );
            assert_eq!(
                s.session.timeouts,
                Timeouts::uniform(Duration::from_secs(1))
            );
            assert_eq!(s.local_port, Some(40000));
        }
    }

    #[test]
    fn malformed_values_name_the_key() {
        for (key, value) in [
            ("mail.smtp.port", "0"),
            ("mail.smtp.port", "70000"),
            ("mail.smtp.sendpartial", "yes"),
            ("mail.smtp.timeout", "soon"),
            ("mail.smtp.dsn.notify", "SOMETIMES"),
            ("mail.smtp.dsn.ret", "ALL"),
            ("mail.smtp.mailextension", "X=a b=\r\n"),
            ("mail.smtp.from", "not an address"),
            ("mail.smtp.localhost", "bad_name"),
            ("mail.smtp.ssl.socketFactory.class", "com.example.Factory"),
            ("mail.smtp.socks.port", "socks"),
            ("mail.smtp.proxy.port", "-1"),
        ] {
            let e = ClientSettings::from_properties(Protocol::Smtp, [(key, value)]).unwrap_err();
            assert_eq!(e.key, key);
        }
        // Other protocols' keys are ignored.
        let s =
            ClientSettings::from_properties(Protocol::Smtps, [("mail.smtp.port", "x")]).unwrap();
        assert_eq!(s.port, 465);
        assert!(s.tls.implicit);
    }
}
