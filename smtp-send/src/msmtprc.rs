//! msmtp configuration files (`-C FILE`, `~/.msmtprc`,
//! `$XDG_CONFIG_HOME/msmtp/config`), read as msmtp's manual describes them,
//! and mapped onto the `mail.smtp.*` properties (`ClientSettings::set`):
//! the file is one more source of properties, not a second configuration
//! path. [`MSMTP`] is the one table of what each command sets; the few
//! commands without a property (a password, `passwordeval`, trust and
//! client certificate files, `socket`, `protocol`, `logfile`) set the typed
//! field the property layer would otherwise fill, in [`apply`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use smtpkit_blocking::{ClientSettings, Protocol, RootSource};

use crate::{Fail, exit, fail};

/// One command of an account: its argument and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    pub value: String,
    pub line: usize,
}

/// An account after `defaults` and inheritance were filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Account {
    pub name: String,
    pub commands: BTreeMap<String, Setting>,
}

impl Account {
    fn get(&self, command: &str) -> Option<&str> {
        self.commands.get(command).map(|s| s.value.as_str())
    }
}

/// A parsed configuration file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    pub path: PathBuf,
    pub accounts: Vec<Account>,
    /// `account default : NAME`, or an account named `default`.
    pub default: Option<String>,
    /// The file has a `password` command (the permission check).
    pub has_password: bool,
}

/// How a command's argument becomes properties. `Property(key)`: the
/// argument as is; the others translate msmtp's words.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Map {
    /// `mail.smtp.KEY` = the argument.
    Property(&'static str),
    /// A typed field or a decision across several commands (see [`apply`]).
    Typed,
    /// An msmtp command smtp-send does not implement: an error naming it.
    Unsupported(&'static str),
}

/// Every command smtp-send reads, and what it sets. Commands not listed are
/// unknown (an error naming the file and the line, as msmtp's).
pub(crate) const MSMTP: &[(&str, Map)] = &[
    ("host", Map::Property("mail.smtp.host")),
    ("port", Map::Property("mail.smtp.port")),
    ("from", Map::Property("mail.smtp.from")),
    ("user", Map::Property("mail.smtp.user")),
    ("domain", Map::Property("mail.smtp.localhost")),
    ("source_ip", Map::Property("mail.smtp.localaddress")),
    // timeout N (seconds): mail.smtp.timeout and mail.smtp.connectiontimeout (ms).
    ("timeout", Map::Typed),
    // on/off/METHOD: mail.smtp.auth, mail.smtp.auth.mechanisms.
    ("auth", Map::Typed),
    ("password", Map::Typed),
    ("passwordeval", Map::Typed),
    // tls + tls_starttls: mail.smtp.starttls.enable/required, mail.smtp.ssl.enable.
    ("tls", Map::Typed),
    ("tls_starttls", Map::Typed),
    ("tls_trust_file", Map::Typed),
    // off: mail.smtp.ssl.trust=*.
    ("tls_certcheck", Map::Typed),
    ("tls_cert_file", Map::Typed),
    ("tls_key_file", Map::Typed),
    // SHA-256 of the whole certificate: TlsOptions::certificate_pins (the
    // pinned certificate is trusted instead of the chain, as in msmtp).
    ("tls_fingerprint", Map::Typed),
    // dsn_notify off|never|success,failure,delay: mail.smtp.dsn.notify.
    ("dsn_notify", Map::Typed),
    // dsn_return off|headers|full: mail.smtp.dsn.ret.
    ("dsn_return", Map::Typed),
    ("proxy_host", Map::Property("mail.smtp.socks.host")),
    ("proxy_port", Map::Property("mail.smtp.socks.port")),
    ("protocol", Map::Typed),
    ("socket", Map::Typed),
    ("logfile", Map::Typed),
    // DKIM signing (not msmtp's: smtp-send's own, as --dkim-*).
    ("dkim_domain", Map::Typed),
    ("dkim_selector", Map::Typed),
    ("dkim_key", Map::Typed),
    ("dkim_canonicalization", Map::Typed),
    (
        "eval",
        Map::Unsupported(
            "eval runs arbitrary commands while the file is read; use passwordeval for secrets",
        ),
    ),
    (
        "auto_from",
        Map::Unsupported("obsolete in msmtp; give `from`"),
    ),
    (
        "maildomain",
        Map::Unsupported("obsolete in msmtp; give `from`"),
    ),
    (
        "set_from_header",
        Map::Unsupported("the message is sent with the headers it has"),
    ),
    (
        "add_missing_from_header",
        Map::Unsupported("the message is sent with the headers it has"),
    ),
    // auto (msmtp's default: add when missing) or off: mail.smtp.setdate,
    // mail.smtp.setmessageid; add_missing_date_header is msmtp's older on/off.
    ("set_date_header", Map::Typed),
    ("add_missing_date_header", Map::Typed),
    ("set_msgid_header", Map::Typed),
    (
        "remove_bcc_headers",
        Map::Unsupported("Bcc: is stripped with -t"),
    ),
    (
        "undisclosed_recipients",
        Map::Unsupported("not implemented"),
    ),
    ("allow_from_override", Map::Unsupported("not implemented")),
    ("aliases", Map::Unsupported("not implemented")),
    ("syslog", Map::Unsupported("not implemented; use logfile")),
    ("logfile_time_format", Map::Unsupported("not implemented")),
    (
        "ntlmdomain",
        Map::Unsupported("use -o mail.smtp.auth.ntlm.domain"),
    ),
    ("tls_crl_file", Map::Unsupported("not implemented")),
    (
        "tls_priorities",
        Map::Unsupported("not implemented; use -o mail.smtp.ssl.protocols"),
    ),
    ("tls_host_override", Map::Unsupported("not implemented")),
    ("tls_min_dh_prime_bits", Map::Unsupported("not implemented")),
];

/// `current` while after `account default : NAME`.
const ALIAS: usize = usize::MAX;

fn config_error(path: &Path, line: usize, message: impl std::fmt::Display) -> Fail {
    fail(
        exit::CONFIG,
        format!("{}:{line}: {message}", path.display()),
    )
}

/// msmtp's argument syntax: the rest of the line, trimmed; a double-quoted
/// argument keeps its blanks, with `\"` and `\\` inside.
fn unquote(arg: &str) -> Result<String, &'static str> {
    let Some(inner) = arg.strip_prefix('"') else {
        return Ok(arg.to_owned());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => out.push(e),
                None => return Err("unterminated quoted argument"),
            },
            '"' => {
                return if chars.as_str().trim().is_empty() {
                    Ok(out)
                } else {
                    Err("text after the closing quote")
                };
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted argument")
}

/// Parses a file's text (`path` names it in errors).
pub(crate) fn parse(path: &Path, text: &str) -> Result<Config, Fail> {
    let mut parser = Parser {
        config: Config {
            path: path.to_owned(),
            ..Config::default()
        },
        defaults: BTreeMap::new(),
        current: None,
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (command, arg) = match trimmed.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((c, a)) => (c, a.trim()),
            None => (trimmed, ""),
        };
        let arg = unquote(arg).map_err(|e| config_error(path, line, e))?;
        match command {
            "defaults" => parser.defaults(line, &arg)?,
            "account" => parser.account(line, &arg)?,
            _ => parser.command(line, command, arg)?,
        }
    }
    Ok(parser.config)
}

/// A file being parsed.
struct Parser {
    config: Config,
    /// The `defaults` section's commands so far.
    defaults: BTreeMap<String, Setting>,
    /// None: before the first `defaults`/`account`; Some(None): in
    /// `defaults`; Some(Some(i)): in account i (or [`ALIAS`]).
    current: Option<Option<usize>>,
}

impl Parser {
    fn error(&self, line: usize, message: impl std::fmt::Display) -> Fail {
        config_error(&self.config.path, line, message)
    }

    /// `defaults`: the commands that follow apply to every account after.
    fn defaults(&mut self, line: usize, arg: &str) -> Result<(), Fail> {
        if !arg.is_empty() {
            return Err(self.error(line, "defaults takes no argument"));
        }
        self.current = Some(None);
        Ok(())
    }

    /// `account NAME [: PARENT[,PARENT...]]`: a new account, from the
    /// defaults so far and its parents; or `account default : NAME`.
    fn account(&mut self, line: usize, arg: &str) -> Result<(), Fail> {
        let (name, parents) = match arg.split_once(':') {
            Some((n, p)) => (n.trim(), Some(p)),
            None => (arg.trim(), None),
        };
        if name.is_empty() {
            return Err(self.error(line, "account needs a name"));
        }
        if name == "default"
            && let Some(parents) = parents
        {
            return self.default_alias(line, parents.trim());
        }
        if self.config.accounts.iter().any(|a| a.name == name) {
            return Err(self.error(line, format!("account {name} is defined twice")));
        }
        let mut account = Account {
            name: name.to_owned(),
            commands: self.defaults.clone(),
        };
        for parent in parents.into_iter().flat_map(|p| p.split(',')) {
            let parent = parent.trim();
            let from = self
                .config
                .accounts
                .iter()
                .find(|a| a.name == parent)
                .ok_or_else(|| self.error(line, format!("account {parent} is not defined")))?;
            account
                .commands
                .extend(from.commands.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if name == "default" {
            self.config.default = Some(name.to_owned());
        }
        self.config.accounts.push(account);
        self.current = Some(Some(self.config.accounts.len() - 1));
        Ok(())
    }

    /// `account default : NAME`: an alias, not an account whose commands
    /// follow.
    fn default_alias(&mut self, line: usize, target: &str) -> Result<(), Fail> {
        if target.is_empty() || target.contains(',') {
            return Err(self.error(line, "account default : NAME names exactly one account"));
        }
        if !self.config.accounts.iter().any(|a| a.name == target) {
            return Err(self.error(line, format!("account {target} is not defined (yet)")));
        }
        self.config.default = Some(target.to_owned());
        self.current = Some(Some(ALIAS));
        Ok(())
    }

    /// Any other command: one [`MSMTP`] knows and smtp-send supports, in
    /// `defaults` or an account.
    fn command(&mut self, line: usize, command: &str, arg: String) -> Result<(), Fail> {
        match MSMTP.iter().find(|(c, _)| *c == command) {
            None => return Err(self.error(line, format!("unknown command {command}"))),
            Some((_, Map::Unsupported(why))) => {
                return Err(self.error(
                    line,
                    format!("{command} is not supported by smtp-send: {why}"),
                ));
            }
            Some(_) => {}
        }
        if command == "password" {
            self.config.has_password = true;
        }
        let setting = Setting { value: arg, line };
        match self.current {
            None => Err(self.error(line, "the first command must be `account` or `defaults`")),
            Some(None) => {
                self.defaults.insert(command.to_owned(), setting);
                Ok(())
            }
            Some(Some(ALIAS)) => {
                Err(self.error(line, "`account default : NAME` takes no commands"))
            }
            Some(Some(index)) => {
                if let Some(account) = self.config.accounts.get_mut(index) {
                    account.commands.insert(command.to_owned(), setting);
                }
                Ok(())
            }
        }
    }
}

/// Reads and parses a file; a file that holds a `password` and can be read
/// by anyone but its owner is refused, as msmtp refuses it.
pub(crate) fn load(path: &Path) -> Result<Config, Fail> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
    let config = parse(path, &text)?;
    if config.has_password {
        check_permissions(path)?;
    }
    Ok(config)
}

#[cfg(unix)]
pub(crate) fn check_permissions(path: &Path) -> Result<(), Fail> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
    if meta.mode() & 0o077 != 0 {
        return Err(fail(
            exit::CONFIG,
            format!(
                "{}: contains secrets and therefore must have no more than user \
                 read/write permissions (chmod 600)",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_permissions(_: &Path) -> Result<(), Fail> {
    Ok(())
}

/// The user's file when `-C` is not given: `~/.msmtprc`, then
/// `$XDG_CONFIG_HOME/msmtp/config` (`~/.config` when unset), msmtp's order.
pub(crate) fn user_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    [
        home.map(|h| h.join(".msmtprc")),
        xdg.map(|x| x.join("msmtp").join("config")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
}

impl Config {
    /// `-a NAME`, or the default account.
    pub(crate) fn account(&self, name: Option<&str>) -> Result<&Account, Fail> {
        let name = match name.or(self.default.as_deref()) {
            Some(n) => n,
            None => {
                return Err(fail(
                    exit::CONFIG,
                    format!(
                        "{}: no account given (-a) and no default account",
                        self.path.display()
                    ),
                ));
            }
        };
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.accounts.iter().map(|a| a.name.as_str()).collect();
                let known = if names.is_empty() {
                    "it defines none".to_owned()
                } else {
                    format!("it defines: {}", names.join(", "))
                };
                fail(
                    exit::CONFIG,
                    format!(
                        "{}: account {} not found ({known})",
                        self.path.display(),
                        smtpkit_proto::escape_text(name)
                    ),
                )
            })
    }
}

/// What an account sets besides the settings.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// `logfile`: one line per message (`-` is standard output).
    pub logfile: Option<PathBuf>,
    /// `passwordeval`, run once every layer of settings is in and only when
    /// no later layer gave the password (and never by `--dry-run`).
    pub password_eval: Option<PasswordEval>,
    /// `dkim_domain`, `dkim_selector`, `dkim_key` (smtp-send's own).
    pub dkim: crate::settings::DkimArgs,
}

/// A `passwordeval` command and where it was written.
#[derive(Debug, Clone)]
pub(crate) struct PasswordEval {
    path: PathBuf,
    line: usize,
    command: String,
}

fn tilde(value: &str) -> PathBuf {
    match (value.strip_prefix('~'), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => {
            PathBuf::from(format!("{}{rest}", PathBuf::from(home).display()))
        }
        _ => PathBuf::from(value),
    }
}

/// msmtp's on/off (an empty argument is on).
fn on_off(value: &str) -> Option<bool> {
    match value {
        "" | "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// A property an account sets, and the line of the command that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    pub key: &'static str,
    pub value: String,
    pub line: usize,
}

/// The properties an account sets, in the order they are applied.
pub(crate) fn properties(config: &Config, account: &Account) -> Result<Vec<Property>, Fail> {
    if !account.commands.contains_key("host") && !account.commands.contains_key("socket") {
        return Err(fail(
            exit::CONFIG,
            format!(
                "{}: account {} has no host",
                config.path.display(),
                account.name
            ),
        ));
    }
    let mut out = Properties(Vec::new());
    for (command, setting) in &account.commands {
        out.command(config, command, setting)?;
    }
    out.tls(account);
    // msmtp's EHLO name is `localhost` unless `domain` says otherwise.
    if !account.commands.contains_key("domain") {
        out.push("mail.smtp.localhost", "localhost", 0);
    }
    if account.get("tls_certcheck").and_then(on_off) == Some(false) {
        out.push(
            "mail.smtp.ssl.trust",
            "*",
            line_of(account, "tls_certcheck"),
        );
    }
    Ok(out.0)
}

/// The line of an account's command (0 when it has none).
fn line_of(account: &Account, command: &str) -> usize {
    account.commands.get(command).map_or(0, |s| s.line)
}

/// The properties of an account, as they are found.
struct Properties(Vec<Property>);

impl Properties {
    fn push(&mut self, key: &'static str, value: &str, line: usize) {
        self.0.push(Property {
            key,
            value: value.to_owned(),
            line,
        });
    }

    /// One command's properties ([`MSMTP`]'s, or msmtp's words translated);
    /// `tls`, `tls_starttls` and `tls_certcheck` are only checked here
    /// (they decide together, in [`Properties::tls`]).
    fn command(&mut self, config: &Config, command: &str, setting: &Setting) -> Result<(), Fail> {
        let err = |message: String| config_error(&config.path, setting.line, message);
        let value = setting.value.as_str();
        let line = setting.line;
        let map = MSMTP.iter().find(|(c, _)| *c == command).map(|(_, m)| *m);
        match (command, map) {
            ("from", _) if value.contains(['%', '*', '?', '[']) => {
                return Err(err(
                    "from: substitution patterns and wildcards are not supported".into(),
                ));
            }
            (_, Some(Map::Property(key))) => self.push(key, value, line),
            ("timeout" | "dsn_notify", _) if value == "off" => {}
            ("timeout", _) => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| err(format!("timeout {value}: expected seconds or off")))?;
                let ms = (secs.saturating_mul(1000)).to_string();
                self.push("mail.smtp.timeout", &ms, line);
                self.push("mail.smtp.connectiontimeout", &ms, line);
            }
            ("auth", _) => match on_off(value) {
                Some(true) => self.push("mail.smtp.auth", "true", line),
                Some(false) => self.push("mail.smtp.auth", "false", line),
                None => {
                    self.push("mail.smtp.auth", "true", line);
                    self.push(
                        "mail.smtp.auth.mechanisms",
                        &value.to_ascii_uppercase(),
                        line,
                    );
                }
            },
            ("tls" | "tls_starttls" | "tls_certcheck", _) => {
                on_off(value)
                    .ok_or_else(|| err(format!("{command} {value}: expected on or off")))?;
            }
            ("dsn_notify", _) => {
                self.push("mail.smtp.dsn.notify", &value.to_ascii_uppercase(), line);
            }
            ("dsn_return", _) => match value {
                "off" => {}
                "headers" => self.push("mail.smtp.dsn.ret", "HDRS", line),
                "full" => self.push("mail.smtp.dsn.ret", "FULL", line),
                _ => {
                    return Err(err(format!(
                        "dsn_return {value}: expected off, headers or full"
                    )));
                }
            },
            ("set_date_header" | "set_msgid_header" | "add_missing_date_header", _) => {
                let on = match value {
                    "auto" if command != "add_missing_date_header" => true,
                    _ => on_off(value).ok_or_else(|| {
                        err(match command {
                            "add_missing_date_header" => {
                                format!("{command} {value}: expected on or off")
                            }
                            _ => format!("{command} {value}: expected auto or off"),
                        })
                    })?,
                };
                let key = match command {
                    "set_msgid_header" => "mail.smtp.setmessageid",
                    _ => "mail.smtp.setdate",
                };
                self.push(key, if on { "true" } else { "false" }, line);
            }
            ("protocol", _) if value != "smtp" && value != "lmtp" => {
                return Err(err(format!("protocol {value}: expected smtp or lmtp")));
            }
            _ => {}
        }
        Ok(())
    }

    /// tls and tls_starttls decide together (msmtp: tls off by default,
    /// STARTTLS when tls is on, TLS from the first byte with tls_starttls
    /// off). Without a `tls` command the tool's default stays: STARTTLS
    /// when offered, verified.
    fn tls(&mut self, account: &Account) {
        let tls = account.get("tls").and_then(on_off);
        let line = line_of(account, "tls");
        let starttls = account.get("tls_starttls").and_then(on_off).unwrap_or(true);
        let (enable, required, implicit) = match tls {
            Some(true) if starttls => ("true", "true", "false"),
            Some(true) => ("false", "false", "true"),
            Some(false) => ("false", "false", "false"),
            None => return,
        };
        self.push("mail.smtp.starttls.enable", enable, line);
        self.push("mail.smtp.starttls.required", required, line);
        self.push("mail.smtp.ssl.enable", implicit, line);
        if implicit == "true" && !account.commands.contains_key("port") {
            self.push("mail.smtp.port", "465", line);
        }
    }
}

/// Applies an account to the settings: its properties through
/// `ClientSettings::set`, then the typed fields.
pub(crate) fn apply(
    config: &Config,
    account: &Account,
    settings: &mut ClientSettings,
) -> Result<Extras, Fail> {
    for Property { key, value, line } in properties(config, account)? {
        settings
            .set(key, &value)
            .map_err(|e| config_error(&config.path, line, e))?;
    }
    let mut extras = Extras::default();
    if account.get("protocol") == Some("lmtp") {
        settings.protocol = Protocol::Lmtp;
    }
    if let Some(socket) = account.get("socket").filter(|s| !s.is_empty()) {
        settings.unix_socket = Some(tilde(socket));
    }
    match account.get("tls_trust_file") {
        None | Some("system") => {}
        Some("") => settings.tls.settings.roots = RootSource::None,
        Some(file) => {
            settings.tls.settings.extra_ca_files.push(tilde(file));
            settings.tls.settings.roots = RootSource::None;
        }
    }
    if let Some(cert) = account.get("tls_cert_file").filter(|s| !s.is_empty()) {
        settings.tls.client_cert = Some(tilde(cert));
    }
    if let Some(key) = account.get("tls_key_file").filter(|s| !s.is_empty()) {
        settings.tls.client_key = Some(tilde(key));
    }
    if let Some(setting) = account.commands.get("tls_fingerprint") {
        let pin = fingerprint(&setting.value).ok_or_else(|| {
            config_error(
                &config.path,
                setting.line,
                "tls_fingerprint: expected a SHA-256 fingerprint, 32 octets in hex \
                 (01:23:…:EF); SHA-1 and MD5 fingerprints are too weak to pin",
            )
        })?;
        settings.tls.settings.certificate_pins.push(pin);
    }
    if let Some(file) = account.get("logfile").filter(|s| !s.is_empty()) {
        extras.logfile = Some(tilde(file));
    }
    extras.dkim = crate::settings::DkimArgs {
        domain: account.get("dkim_domain").map(str::to_owned),
        selector: account.get("dkim_selector").map(str::to_owned),
        key: account.get("dkim_key").map(tilde),
        canonicalization: account.get("dkim_canonicalization").map(str::to_owned),
    };
    if let Some(password) = account.get("password") {
        settings.auth.credentials.password = password.to_owned().into();
    } else if let Some(setting) = account.commands.get("passwordeval") {
        extras.password_eval = Some(PasswordEval {
            path: config.path.clone(),
            line: setting.line,
            command: setting.value.clone(),
        });
    }
    Ok(extras)
}

/// A SHA-256 fingerprint as msmtp and OpenSSL print it: 32 octets in hex,
/// with or without colons.
fn fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    if hex.len() != 64 {
        return None;
    }
    let mut pin = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digits = std::str::from_utf8(pair).ok()?;
        pin[i] = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(pin)
}

impl PasswordEval {
    /// `sh -c CMD`, standard input closed: the first line of its standard
    /// output. Neither the output nor the command's error output is printed
    /// by smtp-send.
    pub(crate) fn run(&self) -> Result<String, Fail> {
        let error = |why: String| config_error(&self.path, self.line, why);
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| error(format!("passwordeval: {e}")))?;
        if !output.status.success() {
            return Err(error(format!(
                "passwordeval: the command failed ({})",
                output.status
            )));
        }
        let text = String::from_utf8(output.stdout)
            .map_err(|_| error("passwordeval: the output is not UTF-8".to_owned()))?;
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Config {
        match parse(Path::new("rc"), text) {
            Ok(c) => c,
            Err(f) => panic!("{}", f.message),
        }
    }

    fn error(text: &str) -> String {
        match parse(Path::new("rc"), text) {
            Ok(_) => panic!("parsed"),
            Err(f) => {
                assert_eq!(f.code, exit::CONFIG);
                f.message
            }
        }
    }

    const RC: &str = "\
# a comment
defaults
  tls on
  tls_trust_file /etc/ca.pem
  logfile ~/.msmtp.log

account work
host smtp.work.example
port 587
from me@work.example
auth on
user me
passwordeval \"printf %s secret\"

account   home : work
host mail.home.example
   # indented comment
from \"me@home.example\"
tls_starttls off

account default : home
";

    #[test]
    fn defaults_inheritance_and_default_account() {
        let c = parsed(RC);
        assert_eq!(c.default.as_deref(), Some("home"));
        let home = c.account(None).unwrap();
        assert_eq!(home.get("host"), Some("mail.home.example"));
        assert_eq!(home.get("port"), Some("587"), "inherited from work");
        assert_eq!(home.get("tls"), Some("on"), "from defaults");
        assert_eq!(home.get("from"), Some("me@home.example"), "unquoted");
        assert_eq!(home.get("passwordeval"), Some("printf %s secret"));
        assert_eq!(home.commands["host"].line, 16);
        let work = c.account(Some("work")).unwrap();
        assert_eq!(work.get("tls_starttls"), None);
        assert!(c.account(Some("nope")).is_err());
    }

    #[test]
    fn properties_of_an_account() {
        let c = parsed(RC);
        let props = properties(&c, c.account(Some("home")).unwrap()).unwrap();
        let get = |k: &str| {
            props
                .iter()
                .rev()
                .find(|p| p.key == k)
                .map(|p| p.value.as_str())
        };
        assert_eq!(get("mail.smtp.host"), Some("mail.home.example"));
        assert_eq!(get("mail.smtp.port"), Some("587"));
        assert_eq!(get("mail.smtp.auth"), Some("true"));
        assert_eq!(
            get("mail.smtp.ssl.enable"),
            Some("true"),
            "tls_starttls off"
        );
        let work = properties(&c, c.account(Some("work")).unwrap()).unwrap();
        assert!(
            work.iter().any(|p| p.key == "mail.smtp.starttls.required"
                && p.value == "true"
                && p.line == 3)
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(unquote("\" a \\\"b\\\\ \"").unwrap(), " a \"b\\ ");
        assert_eq!(
            unquote("plain # not a comment").unwrap(),
            "plain # not a comment"
        );
        assert!(unquote("\"open").is_err());
        assert!(unquote("\"a\" b").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            error("account a\nhost h\nbogus x\n"),
            "rc:3: unknown command bogus"
        );
        assert!(error("host h\n").starts_with("rc:1: the first command"));
        assert!(error("account a : b\n").contains("rc:1: account b is not defined"));
        assert!(error("account a\nhost h\naccount a\n").starts_with("rc:3:"));
        assert!(error("account a\nfrom \"x\n").starts_with("rc:2: unterminated"));
        assert!(error("account default : nope\n").starts_with("rc:1:"));
        let c = parsed("account a\nport 1\n");
        let Err(f) = properties(&c, &c.accounts[0]) else {
            panic!()
        };
        assert!(f.message.contains("account a has no host"));
        let c = parsed("account a\nhost h\ntimeout soon\n");
        let Err(f) = properties(&c, &c.accounts[0]) else {
            panic!()
        };
        assert!(f.message.starts_with("rc:3: timeout soon"), "{}", f.message);
    }

    #[test]
    fn password_needs_private_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("msmtprc-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rc");
        std::fs::write(&path, "account a\nhost h\npassword s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err(f) = load(&path) else { panic!() };
        assert_eq!(f.code, exit::CONFIG);
        assert!(f.message.contains("must have no more than user read/write"));
        assert!(!f.message.contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).is_ok());
        // Without a password, the mode does not matter.
        std::fs::write(&path, "account a\nhost h\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load(&path).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tls_fingerprint_is_a_certificate_pin() {
        let hex = "3A:".repeat(31) + "3B";
        let c = parsed(&format!("account a\nhost h\ntls_fingerprint {hex}\n"));
        let mut settings = ClientSettings::new(Protocol::Smtp, "localhost");
        apply(&c, &c.accounts[0], &mut settings).unwrap();
        let mut expected = [0x3a; 32];
        expected[31] = 0x3b;
        assert_eq!(settings.tls.settings.certificate_pins, [expected]);
        // SHA-1 (20 octets) is refused, naming the line.
        let c = parsed(
            "account a\nhost h\ntls_fingerprint 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33\n",
        );
        let mut settings = ClientSettings::new(Protocol::Smtp, "localhost");
        let e = apply(&c, &c.accounts[0], &mut settings).unwrap_err();
        assert!(
            e.message.starts_with("rc:3: tls_fingerprint"),
            "{}",
            e.message
        );
    }

    #[test]
    fn password_eval_first_line() {
        let c = parsed("account a\nhost h\nauth on\nuser u\npasswordeval printf 'one\\ntwo'\n");
        let mut settings = ClientSettings::new(Protocol::Smtp, "localhost");
        let extras = apply(&c, &c.accounts[0], &mut settings).unwrap();
        assert!(
            settings.auth.credentials.password.expose().is_empty(),
            "run later, not while applying"
        );
        assert_eq!(extras.password_eval.unwrap().run().unwrap(), "one");
    }
}
