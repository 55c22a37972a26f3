//! The settings, layered, each layer over the one before: the tool's
//! defaults, the msmtp account, `--properties`, each `-o` in order, then
//! the flags (`--help` documents this order).
//!
//! Every layer sets what has a `mail.smtp.*` key through
//! `ClientSettings::set`, as a property would: the msmtp account through
//! its table (`msmtprc::MSMTP`; its few commands without a key are listed
//! there), and each flag translated to its keys
//! (`-s` to `host` and `port`, `-u` to `user` and `auth`, `--proxy` to
//! `proxy.host` and `proxy.port`, ...). A field is written directly only
//! for what no key can say:
//!
//! | flag | field | why no key |
//! |---|---|---|
//! | `-N off`, `-R off` | `session.dsn_notify`, `session.dsn_ret` | the keys take NOTIFY/RET words; no value clears them |
//! | `--lmtp`, `-s unix:PATH` | `protocol`, `unix_socket` | JavaMail has no LMTP nor Unix sockets |
//! | `--ca`, `--client-cert`, `--client-key` | `tls.settings.extra_ca_files`, `tls.client_cert`, `tls.client_key` | JavaMail takes trust and client keys from Java's key stores, not `mail.smtp.*` |
//! | `--socks5` (`--socks5-user`, `--socks5-password-env`) | `proxy` | a SOCKS proxy's credentials have no key (JavaMail asks its Authenticator), and `socks.host` would lose to an HTTP proxy's `proxy.host` from an earlier layer |
//! | `--allow-plaintext-auth` | `auth.allow_plaintext` | our own safeguard: JavaMail sends PLAIN and LOGIN in the clear |
//! | `--password-env`, `--password-file` | `auth.credentials.password` | JavaMail passes the password to `connect`, not as a property |
//! | `--oauth2-*` (and an account's `passwordeval` with `auth oauthbearer` or `xoauth2`) | `auth.tokens` | JavaMail has no token source: its caller passes a token as the password |
//!
//! A key the user gives (`--properties`, `-o`) under `mail.smtp.` (or
//! `mail.smtps.`, `mail.lmtp.`) that names no setting is an error, exit 78,
//! naming the closest key (`keys`). The msmtp account and the flags set
//! only keys the library knows (a test below applies them all).

use std::io::BufReader;
use std::path::PathBuf;

use smtpkit_blocking::{ClientSettings, Protocol};

use crate::cli::Cli;
use crate::msmtprc::{self, Extras, PasswordEval};
use crate::{Fail, exit, fail, keys};

/// The settings, and what the tool needs besides them.
pub(crate) struct Resolved {
    pub(crate) settings: ClientSettings,
    /// `-X FILE`, else the account's `logfile`.
    pub(crate) logfile: Option<PathBuf>,
    /// The account's `passwordeval` would give the password, and was not
    /// run: a dry run never runs it (it may prompt or unlock a key).
    pub(crate) unrun_password_eval: bool,
}

/// Builds the settings in the documented precedence.
pub(crate) fn resolve(cli: &Cli) -> Result<Resolved, Fail> {
    let mut settings = defaults()?;
    let account = account(cli, &mut settings)?;
    properties_file(cli, &mut settings)?;
    options(cli, &mut settings)?;
    flags(cli, &mut settings)?;
    let (logfile, eval, dkim) = match account {
        Some(Extras {
            logfile,
            password_eval,
            dkim,
        }) => (logfile, password_eval, dkim),
        None => (None, None, DkimArgs::default()),
    };
    settings.dkim = dkim_signer(cli, dkim)?;
    let eval = oauth2_tokens(cli, eval, &mut settings)?;
    let unrun_password_eval = password_eval(cli, eval.as_ref(), &mut settings)?;
    if needs_password(&settings) && !unrun_password_eval {
        return Err(fail(
            exit::CONFIG,
            format!(
                "authentication as {} needs a password, and none was given \
                 (--password-env VAR, --password-file FILE, or the msmtp \
                 account's password or passwordeval)",
                settings.auth.credentials.user
            ),
        ));
    }
    Ok(Resolved {
        settings,
        logfile: cli.logfile.clone().or(logfile),
        unrun_password_eval,
    })
}

/// DKIM's domain, selector and key file, from the flags or an account.
#[derive(Debug, Default, Clone)]
pub(crate) struct DkimArgs {
    pub(crate) domain: Option<String>,
    pub(crate) selector: Option<String>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) canonicalization: Option<String>,
}

/// The signer `--dkim-*` (each over the account's `dkim_*`) describe:
/// all three or none. The key file must be private, as msmtp wants a file
/// with a password to be.
fn dkim_signer(
    cli: &Cli,
    account: DkimArgs,
) -> Result<Option<smtpkit_client::dkim::DkimSigner>, Fail> {
    use smtpkit_client::dkim::{DkimCanonicalization, DkimKey, DkimSettings, DkimSigner};
    let domain = cli.dkim_domain.clone().or(account.domain);
    let selector = cli.dkim_selector.clone().or(account.selector);
    let key = cli.dkim_key.clone().or(account.key);
    let (domain, selector, key) = match (domain, selector, key) {
        (None, None, None) => return Ok(None),
        (Some(d), Some(s), Some(k)) => (d, s, k),
        (d, s, k) => {
            let missing: Vec<&str> = [
                (d.is_none(), "--dkim-domain"),
                (s.is_none(), "--dkim-selector"),
                (k.is_none(), "--dkim-key"),
            ]
            .iter()
            .filter(|(m, _)| *m)
            .map(|(_, f)| *f)
            .collect();
            return Err(fail(
                exit::CONFIG,
                format!(
                    "DKIM signing needs a domain, a selector and a key: {} missing                      (or the account's dkim_domain, dkim_selector, dkim_key)",
                    missing.join(", ")
                ),
            ));
        }
    };
    let mut settings =
        DkimSettings::new(domain, selector).map_err(|e| fail(exit::CONFIG, e.to_string()))?;
    if let Some(c) = cli
        .dkim_canonicalization
        .clone()
        .or(account.canonicalization)
    {
        let one = |name: &str| match name {
            "relaxed" => Some(DkimCanonicalization::Relaxed),
            "simple" => Some(DkimCanonicalization::Simple),
            _ => None,
        };
        let (header, body) = c.split_once('/').unwrap_or((&c, &c));
        let (Some(header), Some(body)) = (one(header), one(body)) else {
            return Err(fail(
                exit::CONFIG,
                format!("DKIM canonicalization {c:?}: expected relaxed or simple, or HEADER/BODY"),
            ));
        };
        settings = settings.with_canonicalization(header, body);
    }
    crate::msmtprc::check_permissions(&key)?;
    let key = DkimKey::from_file(&key).map_err(|e| fail(exit::CONFIG, e.to_string()))?;
    DkimSigner::new(settings, key)
        .map(Some)
        .map_err(|e| fail(exit::CONFIG, e.to_string()))
}

fn config(e: smtpkit_blocking::PropertyError) -> Fail {
    fail(exit::CONFIG, e.to_string())
}

/// The tool's own default: STARTTLS when offered, certificate verified (a
/// failed verification is an error, never a fallback to plaintext).
fn defaults() -> Result<ClientSettings, Fail> {
    let mut settings = ClientSettings::new(Protocol::Smtp, "localhost");
    settings
        .set("mail.smtp.starttls.enable", "true")
        .map_err(config)?;
    Ok(settings)
}

/// The msmtp configuration file to read: `-C FILE`; else, when `-a` is
/// given or `-s` is not, the user's file if there is one.
fn msmtp_file(cli: &Cli) -> Result<Option<PathBuf>, Fail> {
    if let Some(path) = &cli.msmtp_file {
        return Ok(Some(path.clone()));
    }
    if cli.account.is_some() {
        return msmtprc::user_file().map(Some).ok_or_else(|| {
            fail(
                exit::CONFIG,
                "-a: no msmtp configuration file (~/.msmtprc, $XDG_CONFIG_HOME/msmtp/config; or -C FILE)",
            )
        });
    }
    Ok(if cli.server.is_empty() {
        msmtprc::user_file()
    } else {
        None
    })
}

/// The msmtp account, if there is a file: what it sets besides the
/// settings.
fn account(cli: &Cli, settings: &mut ClientSettings) -> Result<Option<Extras>, Fail> {
    let Some(path) = msmtp_file(cli)? else {
        return Ok(None);
    };
    let file = msmtprc::load(&path)?;
    let account = file.account(cli.account.as_deref())?;
    msmtprc::apply(&file, account, settings).map(Some)
}

/// `--properties FILE`, its keys in sorted order; an unknown
/// `mail.smtp.*` key is an error.
fn properties_file(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    let Some(path) = &cli.properties else {
        return Ok(());
    };
    let file = std::fs::File::open(path)
        .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
    let map = java_properties::read(BufReader::new(file))
        .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
    let mut keys: Vec<_> = map.into_iter().collect();
    keys.sort();
    for (k, v) in keys {
        keys::check(&k).map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
        settings.set(&k, &v).map_err(config)?;
    }
    Ok(())
}

/// Each `-o KEY=VALUE`, in order; an unknown `mail.smtp.*` key is an
/// error.
fn options(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    for option in &cli.options {
        let (k, v) = option
            .split_once('=')
            .ok_or_else(|| fail(exit::USAGE, format!("-o {option}: expected KEY=VALUE")))?;
        keys::check(k.trim()).map_err(|e| fail(exit::CONFIG, format!("-o: {e}")))?;
        settings.set(k.trim(), v).map_err(config)?;
    }
    Ok(())
}

/// The flags, over every other layer.
fn flags(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    settings.message.allow_long_lines |= cli.allow_long_lines;
    dsn_flags(cli, settings)?;
    server_flags(cli, settings)?;
    sender_flags(cli, settings)?;
    tls_flags(cli, settings)?;
    proxy_flags(cli, settings)?;
    auth_flags(cli, settings)
}

/// `-N` and `-R`: `mail.smtp.dsn.notify` and `.ret`; `off` clears them,
/// which no value of the keys does.
fn dsn_flags(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    if let Some(notify) = &cli.dsn_notify {
        let notify = if notify == "off" { None } else { Some(notify) };
        match notify {
            Some(n) => settings
                .set("mail.smtp.dsn.notify", &n.to_ascii_uppercase())
                .map_err(|e| fail(exit::USAGE, format!("-N: {e}")))?,
            None => settings.session.dsn_notify = None,
        }
    }
    if let Some(ret) = &cli.dsn_return {
        match ret.to_ascii_lowercase().as_str() {
            "off" => settings.session.dsn_ret = None,
            "full" | "hdrs" | "headers" => settings
                .set(
                    "mail.smtp.dsn.ret",
                    if ret.starts_with(['f', 'F']) {
                        "FULL"
                    } else {
                        "HDRS"
                    },
                )
                .map_err(|e| fail(exit::USAGE, format!("-R: {e}")))?,
            _ => {
                return Err(fail(
                    exit::USAGE,
                    format!("-R {ret}: expected full, hdrs or off"),
                ));
            }
        }
    }
    Ok(())
}

/// `--lmtp` and `-s`: `mail.smtp.host` and `.port`; LMTP and a Unix
/// socket have no key.
fn server_flags(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    if cli.lmtp {
        settings.protocol = Protocol::Lmtp;
    }
    match cli.server.first() {
        Some(server) => set_server(server, settings),
        None => Ok(()),
    }
}

/// One `-s` value: `mail.smtp.host` and `.port`, or the Unix socket.
fn set_server(server: &str, settings: &mut ClientSettings) -> Result<(), Fail> {
    if let Some(path) = server.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(fail(exit::USAGE, "--server unix:PATH: the path is empty"));
        }
        settings.unix_socket = Some(PathBuf::from(path));
        return Ok(());
    }
    let (host, port) = split_host_port(server).ok_or_else(|| {
        fail(
            exit::USAGE,
            format!("--server {server}: expected HOST[:PORT]"),
        )
    })?;
    settings.unix_socket = None;
    settings.set("mail.smtp.host", host).map_err(config)?;
    if let Some(port) = port {
        settings.set("mail.smtp.port", port).map_err(config)?;
    }
    Ok(())
}

/// The relays of a repeated `-s`, in order: the resolved settings, each
/// with its server (the first is `settings` itself). Empty with one `-s`
/// or none.
pub(crate) fn relays(cli: &Cli, settings: &ClientSettings) -> Result<Vec<ClientSettings>, Fail> {
    if cli.server.len() < 2 {
        return Ok(Vec::new());
    }
    cli.server
        .iter()
        .map(|server| {
            let mut relay = settings.clone();
            // Each relay's own port, or the protocol's default.
            relay.port = None;
            set_server(server, &mut relay)?;
            Ok(relay)
        })
        .collect()
}

/// `-f` and `--ehlo`: `mail.smtp.from` and `mail.smtp.localhost`.
fn sender_flags(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    if let Some(from) = &cli.from {
        settings
            .set("mail.smtp.from", from)
            .map_err(|e| fail(exit::USAGE, e.to_string()))?;
    }
    if let Some(name) = &cli.ehlo {
        settings
            .set("mail.smtp.localhost", name)
            .map_err(|e| fail(exit::USAGE, e.to_string()))?;
    }
    Ok(())
}

/// `--tls` (`mail.smtp.starttls.enable`, `.starttls.required`,
/// `.ssl.enable`), `--trust-all` (`mail.smtp.ssl.trust=*`),
/// `--no-verify-hostname` (`mail.smtp.ssl.checkserveridentity=false`);
/// `--ca`, `--client-cert` and `--client-key` have no key.
fn tls_flags(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    if let Some(mode) = &cli.tls {
        let (enable, required, implicit) = match mode.as_str() {
            "none" => ("false", "false", "false"),
            "starttls" => ("true", "false", "false"),
            "starttls-required" => ("true", "true", "false"),
            _ => ("false", "false", "true"),
        };
        settings
            .set("mail.smtp.starttls.enable", enable)
            .map_err(config)?;
        settings
            .set("mail.smtp.starttls.required", required)
            .map_err(config)?;
        settings
            .set("mail.smtp.ssl.enable", implicit)
            .map_err(config)?;
    }
    settings
        .tls
        .settings
        .extra_ca_files
        .extend(cli.ca.iter().cloned());
    if cli.trust_all {
        settings.set("mail.smtp.ssl.trust", "*").map_err(config)?;
    }
    if cli.no_verify_hostname {
        settings
            .set("mail.smtp.ssl.checkserveridentity", "false")
            .map_err(config)?;
    }
    if let (Some(cert), Some(key)) = (&cli.client_cert, &cli.client_key) {
        settings.tls.client_cert = Some(cert.clone());
        settings.tls.client_key = Some(key.clone());
    }
    Ok(())
}

/// `--proxy`: `mail.smtp.proxy.host` and `.port` (its credentials are
/// `mail.smtp.proxy.user` and `.password`, from any layer); `--socks5`
/// (with `--socks5-user` and `--socks5-password-env`) is a typed proxy,
/// which wins over the proxy keys of every layer (the module's table says
/// why).
fn proxy_flags(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    if let Some(socks) = &cli.socks5 {
        let (host, port) = proxy_address(socks)?;
        let mut proxy =
            smtpkit_client::ProxySettings::new(smtpkit_client::ProxyKind::Socks5, host, port);
        proxy.user = cli.socks5_user.clone();
        if let Some(var) = &cli.socks5_password_env {
            let password = std::env::var(var).map_err(|_| {
                fail(
                    exit::CONFIG,
                    format!("--socks5-password-env {var}: not set"),
                )
            })?;
            proxy.password = Some(password.into());
        }
        settings.proxy = Some(proxy);
    }
    if let Some(http) = &cli.proxy {
        let (host, port) = proxy_address(http)?;
        settings.set("mail.smtp.proxy.host", host).map_err(config)?;
        settings
            .set("mail.smtp.proxy.port", &port.to_string())
            .map_err(config)?;
    }
    Ok(())
}

/// A proxy's `HOST:PORT`: both are needed.
fn proxy_address(value: &str) -> Result<(&str, u16), Fail> {
    split_host_port(value)
        .and_then(|(h, p)| Some((h, p?.parse::<u16>().ok()?)))
        .filter(|(h, p)| !h.trim().is_empty() && *p != 0)
        .ok_or_else(|| fail(exit::USAGE, format!("{value}: expected HOST:PORT")))
}

/// `-u` (`mail.smtp.user`, `mail.smtp.auth=true`), `--auth`
/// (`mail.smtp.auth.mechanisms`, `mail.smtp.auth=true`); then
/// `--allow-plaintext-auth`, `--password-env` and `--password-file`, which
/// have no key. Authentication then needs a user.
fn auth_flags(cli: &Cli, settings: &mut ClientSettings) -> Result<(), Fail> {
    if let Some(user) = &cli.user {
        settings.set("mail.smtp.user", user).map_err(config)?;
        settings.set("mail.smtp.auth", "true").map_err(config)?;
    }
    if let Some(list) = &cli.auth {
        settings
            .set("mail.smtp.auth.mechanisms", list)
            .map_err(config)?;
        settings.set("mail.smtp.auth", "true").map_err(config)?;
    }
    settings.auth.allow_plaintext |= cli.allow_plaintext_auth;
    if let Some(var) = &cli.password_env {
        let password = std::env::var(var)
            .map_err(|_| fail(exit::CONFIG, format!("--password-env {var}: not set")))?;
        settings.auth.credentials.password = password.into();
    }
    if let Some(path) = &cli.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
        let password = text.lines().next().unwrap_or_default().to_owned();
        settings.auth.credentials.password = password.into();
    }
    if settings.auth.enabled && settings.auth.credentials.user.is_empty() {
        return Err(fail(
            exit::CONFIG,
            "authentication needs a user (-u or mail.smtp.user)",
        ));
    }
    Ok(())
}

/// OAuth 2.0 tokens (`auth.tokens`): from the `--oauth2-*` flags, else an
/// account's `passwordeval` when its mechanisms are bearer ones only
/// (`auth oauthbearer`, `auth xoauth2`): msmtp runs that command once for
/// the token; here it runs again when the server refuses the token. The
/// `passwordeval` left to run as a password, if any.
fn oauth2_tokens(
    cli: &Cli,
    eval: Option<PasswordEval>,
    settings: &mut ClientSettings,
) -> Result<Option<PasswordEval>, Fail> {
    let tokens = match crate::oauth::from_flags(cli)? {
        Some(tokens) => tokens,
        None => match eval {
            Some(eval) if bearer_only(settings) => crate::oauth::from_password_eval(eval),
            eval => return Ok(eval),
        },
    };
    let user = std::mem::take(&mut settings.auth.credentials.user);
    if user.is_empty() {
        return Err(fail(
            exit::CONFIG,
            "OAuth 2.0 needs the user the token is for (-u or mail.smtp.user)",
        ));
    }
    settings.auth.login_with_tokens(user, tokens);
    Ok(None)
}

/// Whether the configured mechanisms are XOAUTH2 and OAUTHBEARER only.
fn bearer_only(settings: &ClientSettings) -> bool {
    let a = &settings.auth;
    let list = match (&a.sasl_mechanisms, &a.mechanisms) {
        (Some(sasl), _) if a.sasl_enable => sasl,
        (_, Some(list)) => list,
        _ => return false,
    };
    let mut names = list
        .split([' ', ',', '\t'])
        .filter(|m| !m.is_empty())
        .peekable();
    names.peek().is_some()
        && names.all(|m| m.eq_ignore_ascii_case("XOAUTH2") || m.eq_ignore_ascii_case("OAUTHBEARER"))
}

/// Authentication is on, no layer gave a password, and a mechanism that
/// needs one may be chosen: sending an empty password would only earn a
/// 535 that does not say what is missing. (EXTERNAL and ANONYMOUS, when
/// they are the only mechanisms allowed, need none.)
fn needs_password(settings: &ClientSettings) -> bool {
    // The chooser the session will use decides which mechanisms remain
    // (`auth.mechanisms`, `sasl.mechanisms`, the disabled ones).
    settings.auth.enabled
        && settings.auth.tokens.is_none()
        && settings.auth.credentials.password.expose().is_empty()
        && settings
            .chooser()
            .is_some_and(|chooser| chooser.needs_password())
}

/// The account's `passwordeval`, run once every layer is in, only when
/// authenticating and no layer gave the password, and never on a dry run.
/// True when it would have run but this is a dry run.
fn password_eval(
    cli: &Cli,
    eval: Option<&PasswordEval>,
    settings: &mut ClientSettings,
) -> Result<bool, Fail> {
    let Some(eval) = eval else {
        return Ok(false);
    };
    if !settings.auth.enabled || !settings.auth.credentials.password.expose().is_empty() {
        return Ok(false);
    }
    if cli.dry_run {
        return Ok(true);
    }
    settings.auth.credentials.password = eval.run()?.into();
    Ok(false)
}

/// `host`, `host:port`, `[v6]:port`, or a bare IPv6 address.
fn split_host_port(server: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = server.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match server.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port))),
        _ => Some((server, None)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The flags' keys are keys the library knows (a misspelt one would be
    /// ignored: `ClientSettings::set` only records it).
    #[test]
    fn the_flags_set_known_keys() {
        let cli = Cli::try_parse_from([
            "smtp-send",
            "-N",
            "success,failure",
            "-R",
            "headers",
            "-s",
            "mx.example:2525",
            "-f",
            "a@example.org",
            "--ehlo",
            "client.example",
            "--tls",
            "starttls-required",
            "--trust-all",
            "--no-verify-hostname",
            "--proxy",
            "proxy.example:8080",
            "-u",
            "alice",
            "--auth",
            "PLAIN",
            "x@example.org",
        ])
        .unwrap();
        let mut settings = defaults().unwrap();
        flags(&cli, &mut settings).unwrap();
        assert!(
            settings.unknown_keys.is_empty(),
            "{:?}",
            settings.unknown_keys
        );
        assert_eq!(
            (settings.host.as_str(), settings.port()),
            ("mx.example", 2525)
        );
        assert!(settings.tls.starttls_required);
        assert_eq!(settings.auth.credentials.user, "alice");
        assert_eq!(settings.auth.mechanisms.as_deref(), Some("PLAIN"));
        assert!(settings.auth.enabled);
        let proxy = settings.effective_proxy().unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.example", 8080));
    }

    /// Every key an msmtp account sets is one the library knows.
    #[test]
    fn msmtp_accounts_set_known_keys() {
        for (command, map) in msmtprc::MSMTP {
            if let msmtprc::Map::Property(key) = map {
                assert_eq!(keys::check(key), Ok(()), "{command}");
            }
        }
        let text = "\
account all
host mx.example
port 587
from a@example.org
user u
domain client.example
source_ip 127.0.0.1
timeout 30
auth plain
tls on
tls_certcheck off
dsn_notify success
dsn_return full
proxy_host socks.example
proxy_port 1080

account implicit
host mx.example
tls on
tls_starttls off
auth off
dsn_return headers
";
        let config = msmtprc::parse(std::path::Path::new("rc"), text).unwrap();
        for account in &config.accounts {
            let mut settings = defaults().unwrap();
            msmtprc::apply(&config, account, &mut settings).unwrap();
            assert!(
                settings.unknown_keys.is_empty(),
                "{}: {:?}",
                account.name,
                settings.unknown_keys
            );
        }
    }
}
