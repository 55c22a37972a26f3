//! `smtp-send`: send one RFC 5322 message over SMTP, or run the demo.
//! See `smtp-send --help`.

use std::io::{self, BufRead, BufReader, Read};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use smtpkit_blocking::{ClientSettings, Error, Protocol, RootSource, Trust};
use smtpkit_proto::{
    Address, AuthError, DeliveryReport, Envelope, FailureKind, Reply, ReversePath, SessionError,
};

mod bulk;
mod conn;
#[cfg(feature = "demo")]
mod demo;
mod log;
mod msmtprc;
mod quick;

/// Built without the `demo` feature: the subcommand says how to get it.
#[cfg(not(feature = "demo"))]
mod demo {
    pub fn run() -> u8 {
        eprintln!(
            "smtp-send: demo: this smtp-send was built without the `demo` feature \
             (it links the test server); run it with \
             `cargo run -p smtpkit-send --features demo -- demo`"
        );
        crate::exit::USAGE
    }
}

/// sysexits(3) codes, as documented in `--help`.
pub(crate) mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    pub const NOUSER: u8 = 67;
    pub const UNAVAILABLE: u8 = 69;
    pub const TEMPFAIL: u8 = 75;
    pub const PROTOCOL: u8 = 76;
    pub const NOPERM: u8 = 77;
    pub const CONFIG: u8 = 78;
}

const AFTER_HELP: &str = "\
Precedence: the tool's own defaults, then the msmtp account (-C FILE, -a
NAME; without -C, ~/.msmtprc or $XDG_CONFIG_HOME/msmtp/config when -a is
given or -s is not), then --properties, then each -o in order, then
explicit flags (-s, -f, --ehlo, -X, ...) win.

Exit status (sysexits):
   0  the message was accepted for every recipient
  64  usage error
  65  the message could not be read or is invalid
  67  a recipient was refused (75 when every refusal was a 4xx)
  69  the server refused permanently (5xx, or lacks what the message needs)
  75  temporary failure (4xx, connection lost, timeout)
  76  malformed server reply
  77  authentication failed
  78  configuration error";

#[derive(Parser, Debug)]
#[command(
    name = "smtp-send",
    version,
    about = "Send one message over SMTP, or run the embedded demo",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,

    /// Server as HOST[:PORT] (default localhost:25, 24 with --lmtp), or
    /// unix:PATH for a Unix domain socket
    #[arg(
        global = true,
        short = 's',
        long = "server",
        value_name = "HOST[:PORT]|unix:PATH"
    )]
    server: Option<String>,

    /// Speak LMTP (RFC 2033): LHLO, and one reply per recipient after the
    /// data (a recipient refused then counts as refused)
    #[arg(global = true, long = "lmtp")]
    lmtp: bool,

    /// Envelope sender (default: the From: header's address)
    #[arg(global = true, short = 'f', long = "from", value_name = "ADDRESS")]
    from: Option<String>,

    /// Also take recipients from To:, Cc:, Bcc:; strip Bcc:
    #[arg(global = true, short = 't', long = "read-recipients")]
    read_recipients: bool,

    /// The RFC 5322 message (default: standard input)
    #[arg(global = true, short = 'm', long = "message", value_name = "FILE")]
    message: Option<std::path::PathBuf>,

    /// EHLO name
    #[arg(global = true, long = "ehlo", value_name = "NAME")]
    ehlo: Option<String>,

    /// Any mail.smtp.* property; repeatable, later wins
    #[arg(global = true, short = 'o', long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,

    /// A Java .properties file of such keys
    #[arg(global = true, long = "properties", value_name = "FILE")]
    properties: Option<std::path::PathBuf>,

    /// One JSON report object on stdout
    #[arg(global = true, long = "json")]
    json: bool,

    /// The dialogue on stderr, lines "C: " / "S: " (and "* " for TLS/AUTH notes)
    #[arg(global = true, long = "transcript")]
    transcript: bool,

    /// Authenticate as NAME (sets mail.smtp.user and mail.smtp.auth)
    #[arg(global = true, short = 'u', long = "user", value_name = "NAME")]
    user: Option<String>,

    /// Read the password (or OAuth token) from this environment variable
    #[arg(
        long = "password-env",
        value_name = "VAR",
        conflicts_with = "password_file"
    )]
    password_env: Option<String>,

    /// Read the password (or OAuth token) from the first line of FILE
    #[arg(global = true, long = "password-file", value_name = "FILE")]
    password_file: Option<std::path::PathBuf>,

    /// SASL mechanisms to consider, in order (mail.smtp.auth.mechanisms)
    #[arg(global = true, long = "auth", value_name = "MECH[,MECH...]")]
    auth: Option<String>,

    /// Allow PLAIN and LOGIN on a connection without TLS (refused by default)
    #[arg(global = true, long = "allow-plaintext-auth")]
    allow_plaintext_auth: bool,

    /// TLS: none, starttls (when offered; the default), starttls-required, implicit
    #[arg(global = true, long = "tls", value_name = "MODE", value_parser = ["none", "starttls", "starttls-required", "implicit"])]
    tls: Option<String>,

    /// Also trust the CA certificates in this PEM file (repeatable)
    #[arg(global = true, long = "ca", value_name = "FILE")]
    ca: Vec<std::path::PathBuf>,

    /// Accept any certificate (mail.smtp.ssl.trust=*): no verification at all
    #[arg(global = true, long = "trust-all")]
    trust_all: bool,

    /// Verify the chain but not the host name (mail.smtp.ssl.checkserveridentity=false)
    #[arg(global = true, long = "no-verify-hostname")]
    no_verify_hostname: bool,

    /// A client certificate chain (PEM), with --client-key
    #[arg(
        global = true,
        long = "client-cert",
        value_name = "FILE",
        requires = "client_key"
    )]
    client_cert: Option<std::path::PathBuf>,

    /// The client certificate's private key (PEM)
    #[arg(
        global = true,
        long = "client-key",
        value_name = "FILE",
        requires = "client_cert"
    )]
    client_key: Option<std::path::PathBuf>,

    /// Connect through a SOCKS5 proxy (the server name is resolved by the proxy)
    #[arg(
        global = true,
        long = "socks5",
        value_name = "HOST:PORT",
        conflicts_with = "proxy"
    )]
    socks5: Option<String>,

    /// User name for the SOCKS5 proxy
    #[arg(
        global = true,
        long = "socks5-user",
        value_name = "NAME",
        requires = "socks5"
    )]
    socks5_user: Option<String>,

    /// Read the SOCKS5 password from this environment variable
    #[arg(
        long = "socks5-password-env",
        value_name = "VAR",
        requires = "socks5_user"
    )]
    socks5_password_env: Option<String>,

    /// Runtime: blocking, tokio (the default), smol, or async-std (built with the `async-std` feature)
    #[arg(global = true, long = "runtime", value_name = "RUNTIME", value_parser = ["blocking", "tokio", "async-std", "smol"])]
    runtime: Option<String>,

    /// Bulk mode: send the message N times
    #[arg(global = true, long = "count", value_name = "N")]
    count: Option<u64>,

    /// Bulk mode: over C concurrent connections (default 1)
    #[arg(
        global = true,
        long = "connections",
        value_name = "C",
        default_value_t = 1
    )]
    connections: usize,

    /// Connect through an HTTP CONNECT proxy (credentials: -o mail.smtp.proxy.user/password)
    #[arg(global = true, long = "proxy", value_name = "HOST:PORT")]
    proxy: Option<String>,

    /// An msmtp configuration file (default, when -s is not given:
    /// ~/.msmtprc, then $XDG_CONFIG_HOME/msmtp/config)
    #[arg(global = true, short = 'C', long = "file", value_name = "FILE")]
    msmtp_file: Option<std::path::PathBuf>,

    /// The account of the msmtp configuration file (default: its default account)
    #[arg(global = true, short = 'a', long = "account", value_name = "NAME")]
    account: Option<String>,

    /// Append one line per message to FILE, as msmtp's log (`-`: standard output)
    #[arg(global = true, short = 'X', long = "logfile", value_name = "FILE")]
    logfile: Option<std::path::PathBuf>,

    /// sendmail's -i / -oi: accepted; a line with a lone dot never ends the
    /// input (it never does: the message ends at the end of the input)
    #[arg(short = 'i')]
    ignore_dots: bool,

    /// DSN notify: never, or success,failure,delay (mail.smtp.dsn.notify)
    #[arg(global = true, short = 'N', long = "dsn-notify", value_name = "WHEN")]
    dsn_notify: Option<String>,

    /// DSN return: full or hdrs (mail.smtp.dsn.ret)
    #[arg(global = true, short = 'R', long = "dsn-return", value_name = "WHAT")]
    dsn_return: Option<String>,

    /// Full name for a From: header added when the message has none
    /// (From: NAME <envelope sender>; ASCII)
    #[arg(short = 'F', long = "full-name", value_name = "NAME")]
    full_name: Option<String>,

    /// The envelope sender is the message's From: address, whatever -f, the
    /// properties or the msmtp account say
    #[arg(long = "read-envelope-from")]
    read_envelope_from: bool,

    /// Quick message: a recipient, in To: and the envelope (repeatable);
    /// without --body, a short test message is sent
    #[arg(long = "to", value_name = "ADDRESS", conflicts_with_all = ["message", "read_recipients"])]
    to: Vec<String>,

    /// Quick message: the Subject: (default "smtp-send test")
    #[arg(long = "subject", value_name = "TEXT", conflicts_with = "message")]
    subject: Option<String>,

    /// Quick message: another header line 'Name: value' (repeatable; CR/LF refused)
    #[arg(
        long = "header",
        value_name = "NAME: VALUE",
        conflicts_with = "message"
    )]
    headers: Vec<String>,

    /// Quick message: the text body, or @FILE
    #[arg(long = "body", value_name = "TEXT|@FILE", conflicts_with = "message")]
    body: Option<String>,

    /// Quick message: attach FILE (repeatable; type from the extension, base64)
    #[arg(long = "attach", value_name = "FILE", conflicts_with = "message")]
    attach: Vec<std::path::PathBuf>,

    /// Print the resolved settings (secrets redacted), the envelope and the
    /// header that would be sent; connect to nothing (msmtp's --pretend)
    #[arg(global = true, long = "dry-run", visible_alias = "pretend")]
    dry_run: bool,

    /// Recipients
    #[arg(value_name = "RECIPIENT")]
    recipients: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Commands {
    /// Start an in-process test server and send a sample message to two
    /// recipients, one of which is refused; exit 0 when all went as expected
    /// (built with the `demo` feature)
    Demo,
    /// Connect, upgrade with STARTTLS when offered, print the greeting,
    /// extensions before and after TLS, the TLS version, cipher suite and
    /// certificate chain, then QUIT (all connection options apply)
    Probe,
    /// Print a completion script: bash, zsh, fish, elvish or powershell
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from this command line
    Man,
}

/// A failure of the tool itself, with its exit status.
#[derive(Debug)]
pub(crate) struct Fail {
    code: u8,
    message: String,
}

pub(crate) fn fail(code: u8, message: impl Into<String>) -> Fail {
    Fail {
        code,
        message: message.into(),
    }
}

/// sendmail's one-token options (`-oi`, `-odi`, `-oem`, ...) would read as
/// `-o VALUE` (a property): `-oi` becomes `-i`, the delivery-mode and
/// error-mode options (meaningless for a client that delivers at once and
/// reports through its exit status) and `-bm` are dropped. Only these exact
/// tokens change, before `--`.
fn sendmail_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const DROPPED: &[&str] = &[
        "-odi", "-odb", "-odq", "-odf", "-oem", "-oep", "-oeq", "-oew", "-om", "-bm",
    ];
    let mut out = Vec::new();
    let mut rest = false;
    for arg in args {
        if !rest {
            match arg.to_str() {
                Some("--") => rest = true,
                Some("-oi") => {
                    out.push("-i".into());
                    continue;
                }
                Some(a) if DROPPED.contains(&a) => continue,
                _ => {}
            }
        }
        out.push(arg);
    }
    out
}

fn main() -> ExitCode {
    let args = sendmail_args(std::env::args_os());
    // Invoked as `sendmail` (a symlink or a copy): the same command line,
    // which already is sendmail's (message on standard input, recipients
    // as arguments or -t), under that name in messages.
    let as_sendmail = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "sendmail");
    let mut command = <Cli as clap::CommandFactory>::command();
    if as_sendmail {
        command = command.name("sendmail").bin_name("sendmail");
    }
    let cli = match command
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match &cli.command {
        Some(Commands::Completions { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "smtp-send", &mut io::stdout());
            return ExitCode::from(exit::OK);
        }
        Some(Commands::Man) => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            return match clap_mangen::Man::new(command).render(&mut page) {
                Ok(()) => {
                    use std::io::Write;
                    match io::stdout().write_all(&page) {
                        Ok(()) => ExitCode::from(exit::OK),
                        Err(_) => ExitCode::from(exit::TEMPFAIL),
                    }
                }
                Err(e) => {
                    eprintln!("smtp-send: man: {e}");
                    ExitCode::from(exit::TEMPFAIL)
                }
            };
        }
        _ => {}
    }
    if let Some(Commands::Demo) = cli.command {
        return ExitCode::from(demo::run());
    }
    if let Some(Commands::Probe) = cli.command {
        return match probe(&cli) {
            Ok(code) => ExitCode::from(code),
            Err(f) => {
                eprintln!("smtp-send: {}", f.message);
                ExitCode::from(f.code)
            }
        };
    }
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("smtp-send: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Builds the settings in the documented precedence.
fn settings(cli: &Cli) -> Result<ClientSettings, Fail> {
    Ok(settings_and_account(cli)?.0)
}

/// The msmtp configuration file to read: `-C FILE`; else, when `-a` is
/// given or `-s` is not, the user's file if there is one.
fn msmtp_file(cli: &Cli) -> Result<Option<std::path::PathBuf>, Fail> {
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
    Ok(if cli.server.is_none() {
        msmtprc::user_file()
    } else {
        None
    })
}

/// The settings, and what the msmtp account (if any) set besides them.
fn settings_and_account(cli: &Cli) -> Result<(ClientSettings, Option<msmtprc::Extras>), Fail> {
    let mut settings = ClientSettings::new(Protocol::Smtp, "localhost");
    let config = |e: smtpkit_blocking::PropertyError| fail(exit::CONFIG, e.to_string());
    // The tool's own default: STARTTLS when offered, certificate verified
    // (a failed verification is an error, never a fallback to plaintext).
    settings
        .set("mail.smtp.starttls.enable", "true")
        .map_err(config)?;
    // An msmtp account: below --properties, -o and the flags.
    let mut extras = None;
    if let Some(path) = msmtp_file(cli)? {
        let file = msmtprc::load(&path)?;
        let account = file.account(cli.account.as_deref())?;
        extras = Some(msmtprc::apply(&file, account, &mut settings)?);
    }
    if let Some(path) = &cli.properties {
        let file = std::fs::File::open(path)
            .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
        let map = java_properties::read(BufReader::new(file))
            .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", path.display())))?;
        let mut keys: Vec<_> = map.into_iter().collect();
        keys.sort();
        for (k, v) in keys {
            settings.set(&k, &v).map_err(config)?;
        }
    }
    for option in &cli.options {
        let (k, v) = option
            .split_once('=')
            .ok_or_else(|| fail(exit::USAGE, format!("-o {option}: expected KEY=VALUE")))?;
        settings.set(k.trim(), v).map_err(config)?;
    }
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
    if cli.lmtp {
        settings.protocol = Protocol::Lmtp;
    }
    if let Some(path) = cli.server.as_deref().and_then(|s| s.strip_prefix("unix:")) {
        if path.is_empty() {
            return Err(fail(exit::USAGE, "--server unix:PATH: the path is empty"));
        }
        settings.unix_socket = Some(std::path::PathBuf::from(path));
    } else if let Some(server) = &cli.server {
        let (host, port) = split_host_port(server).ok_or_else(|| {
            fail(
                exit::USAGE,
                format!("--server {server}: expected HOST[:PORT]"),
            )
        })?;
        settings.set("mail.smtp.host", host).map_err(config)?;
        if let Some(port) = port {
            settings.set("mail.smtp.port", port).map_err(config)?;
        }
    }
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
    let proxy_of = |value: &str, kind| -> Result<smtpkit_client::ProxySettings, Fail> {
        let (host, port) = split_host_port(value)
            .and_then(|(h, p)| Some((h, p?.parse::<u16>().ok()?)))
            .ok_or_else(|| fail(exit::USAGE, format!("{value}: expected HOST:PORT")))?;
        Ok(smtpkit_client::ProxySettings::new(kind, host, port))
    };
    if let Some(socks) = &cli.socks5 {
        let mut proxy = proxy_of(socks, smtpkit_client::ProxyKind::Socks5)?;
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
        let mut proxy = proxy_of(http, smtpkit_client::ProxyKind::HttpConnect)?;
        if let Some(from_properties) = settings.effective_proxy().filter(|p| p.kind == proxy.kind) {
            proxy.user = from_properties.user;
            proxy.password = from_properties.password;
        }
        settings.proxy = Some(proxy);
    }
    if let Some(user) = &cli.user {
        settings.auth.credentials.user = user.clone();
        settings.auth.enabled = true;
    }
    if let Some(list) = &cli.auth {
        settings.auth.mechanisms = Some(list.clone());
        settings.auth.enabled = true;
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
    let eval = extras.as_ref().and_then(|e| e.password_eval.as_ref());
    if let Some(eval) = eval
        && settings.auth.enabled
        && settings.auth.credentials.password.expose().is_empty()
        && !cli.dry_run
    {
        settings.auth.credentials.password = eval.run()?.into();
    }
    for key in &settings.unknown_keys {
        eprintln!("smtp-send: warning: unknown property {key} ignored");
    }
    Ok((settings, extras))
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

/// The message, split into its (possibly rewritten) header block and the
/// rest, with what the header says.
struct Message {
    header: Vec<u8>,
    rest: Box<dyn Read + Send>,
    rewritten: bool,
    from: Option<Address>,
    recipients: Vec<Address>,
}

const MAX_HEADER: usize = smtpkit_client::message::MAX_HEADER;

fn read_message(cli: &Cli, built: Option<Vec<u8>>) -> Result<Message, Fail> {
    let source: Box<dyn Read + Send> = match (built, &cli.message) {
        (Some(built), _) => Box::new(io::Cursor::new(built)),
        (None, Some(path)) => Box::new(
            std::fs::File::open(path)
                .map_err(|e| fail(exit::DATAERR, format!("{}: {e}", path.display())))?,
        ),
        (None, None) => Box::new(io::stdin()),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, source);
    let mut header = Vec::new();
    loop {
        let before = header.len();
        let n = reader
            .by_ref()
            .take((MAX_HEADER + 1 - header.len()) as u64)
            .read_until(b'\n', &mut header)
            .map_err(|e| fail(exit::DATAERR, format!("reading the message: {e}")))?;
        if header.len() > MAX_HEADER {
            return Err(fail(exit::DATAERR, "the header block is larger than 1 MiB"));
        }
        let line = &header[before..];
        if n == 0 || line == b"\n" || line == b"\r\n" {
            break;
        }
    }
    // The envelope from the header, as the library's message-level send
    // reads it (smtpkit_client::message): From:/Sender:, and with -t every
    // To:, Cc: and Bcc: address once, Bcc: stripped.
    use smtpkit_client::message::HeaderAddresses;
    let (sender, recipients) = if cli.read_recipients {
        let a = HeaderAddresses::of(&header).map_err(|e| fail(exit::DATAERR, e.to_string()))?;
        (a.sender, a.recipients)
    } else {
        let sender =
            HeaderAddresses::sender_of(&header).map_err(|e| fail(exit::DATAERR, e.to_string()))?;
        (sender, Vec::new())
    };
    let rewritten = if cli.read_recipients {
        let stripped = smtpkit_client::message::strip_bcc(&header);
        let changed = stripped != header;
        header = stripped;
        changed
    } else {
        false
    };
    Ok(Message {
        header,
        rest: Box::new(reader),
        rewritten,
        from: sender,
        recipients,
    })
}

/// Counts the octets read through it (the log's `mailsize`).
struct Counting<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

fn run(cli: &Cli) -> Result<u8, Fail> {
    let (settings, account) = settings_and_account(cli)?;
    let unrun_password_eval = account.as_ref().is_some_and(|a| a.password_eval.is_some())
        && settings.auth.enabled
        && settings.auth.credentials.password.expose().is_empty();
    let logfile = cli
        .logfile
        .clone()
        .or_else(|| account.and_then(|a| a.logfile));
    let log = |envelope: &Envelope,
               tls: bool,
               size: Option<u64>,
               reply: Option<&Reply>,
               error: Option<&str>,
               code: u8| {
        if let Some(path) = &logfile {
            let recipients: Vec<String> = envelope
                .recipients
                .iter()
                .map(|r| r.address.as_str().to_owned())
                .collect();
            let from = match &envelope.from {
                ReversePath::Mailbox(a) => a.as_str().to_owned(),
                _ => String::new(),
            };
            log::write(
                path,
                &log::Entry {
                    host: &settings.host,
                    tls,
                    auth: settings.auth.enabled,
                    user: Some(settings.auth.credentials.user.as_str()).filter(|u| !u.is_empty()),
                    from: &from,
                    recipients: &recipients,
                    size,
                    reply,
                    error,
                    code,
                },
            );
        }
    };
    let runtime = runtime_kind(cli)?;
    let mut recipients = Vec::new();
    for r in &cli.recipients {
        recipients
            .push(Address::parse(r).map_err(|e| fail(exit::USAGE, format!("recipient {r}: {e}")))?);
    }
    let quick = !cli.to.is_empty()
        || cli.subject.is_some()
        || !cli.headers.is_empty()
        || cli.body.is_some()
        || !cli.attach.is_empty();
    let built = if quick {
        let from = match &settings.from {
            Some(ReversePath::Mailbox(a)) => a,
            _ => {
                return Err(fail(
                    exit::USAGE,
                    "a quick message (--to, --subject, --body, ...) needs a sender: -f, \
                     mail.smtp.from or the account's from",
                ));
            }
        };
        for r in &cli.to {
            recipients
                .push(Address::parse(r).map_err(|e| fail(exit::USAGE, format!("--to {r}: {e}")))?);
        }
        Some(quick::build(&quick::Quick {
            from,
            to: &cli.to,
            subject: cli.subject.as_deref(),
            headers: &cli.headers,
            body: cli.body.as_deref(),
            attach: &cli.attach,
        })?)
    } else {
        None
    };
    let message = read_message(cli, built)?;
    recipients.extend(message.recipients.iter().cloned());
    if recipients.is_empty() {
        return Err(fail(
            exit::USAGE,
            "no recipients (give them as arguments, or use -t)",
        ));
    }
    let from = match (&settings.from, &message.from) {
        (_, Some(from)) if cli.read_envelope_from => ReversePath::Mailbox(from.clone()),
        (_, None) if cli.read_envelope_from => {
            return Err(fail(
                exit::DATAERR,
                "--read-envelope-from: the message has no From: header",
            ));
        }
        (Some(from), _) => from.clone(),
        (None, Some(from)) => ReversePath::Mailbox(from.clone()),
        (None, None) => {
            return Err(fail(
                exit::DATAERR,
                "no envelope sender: use -f or give the message a From: header",
            ));
        }
    };
    let mut message = message;
    if let (Some(name), None, ReversePath::Mailbox(address)) =
        (&cli.full_name, &message.from, &from)
    {
        // sendmail's -F: the message has no From: (nor Sender:), so one is
        // added from the full name and the envelope sender.
        if name.chars().any(char::is_control) {
            return Err(fail(
                exit::USAGE,
                "-F: the name must not contain CR, LF or other control characters",
            ));
        }
        // mail-builder quotes the name, and encodes it (RFC 2047) when it is
        // not ASCII.
        use mail_builder::headers::Header as _;
        let mut header = b"From: ".to_vec();
        mail_builder::headers::address::Address::new_address(Some(name.as_str()), address.as_str())
            .write_header(&mut header, "From: ".len());
        header.extend_from_slice(&message.header);
        message.header = header;
        message.rewritten = true;
    }
    let envelope = Envelope::new(from, recipients);
    if cli.dry_run {
        dry_run(
            cli,
            &settings,
            &envelope,
            &message.header,
            logfile.as_deref(),
            unrun_password_eval,
        );
        return Ok(exit::OK);
    }

    if let Some(count) = cli.count {
        let mut data = message.header;
        message
            .rest
            .take(u64::MAX)
            .read_to_end(&mut data)
            .map_err(|e| fail(exit::DATAERR, format!("reading the message: {e}")))?;
        return bulk::run(cli, &settings, runtime, envelope, data, count);
    }
    let transcript: Option<smtpkit_blocking::TranscriptHook> = cli
        .transcript
        .then(|| Box::new(|e: &smtpkit_proto::TranscriptEntry| eprintln!("{e}")) as _);
    let mut client = match conn::connect(runtime, &settings, transcript) {
        Ok(c) => c,
        Err(e) => {
            // Nothing was sent: every recipient is unsent, and says so.
            let unsent: Vec<&str> = envelope
                .recipients
                .iter()
                .map(|r| r.address.as_str())
                .collect();
            let code = report_error(cli, &e, None, &unsent);
            log(&envelope, false, None, None, Some(&e.chain()), code);
            return Ok(code);
        }
    };
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let body = match (&cli.message, message.rewritten) {
        (Some(path), false) => {
            drop(message.rest);
            if let Ok(meta) = std::fs::metadata(path) {
                counted.store(meta.len(), std::sync::atomic::Ordering::Relaxed);
            }
            conn::SendBody::File(path.clone())
        }
        _ => conn::SendBody::Stream(Box::new(Counting {
            inner: io::Cursor::new(message.header).chain(message.rest),
            count: counted.clone(),
        })),
    };
    let logged_envelope = envelope.clone();
    let all: Vec<String> = envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str().to_owned())
        .collect();
    let result = client.send(envelope, body);
    let conn_info = client.info();
    let info = Info {
        tls: conn_info.tls.as_ref().map(tls_json),
        auth: conn_info.auth_mechanism,
        extensions: conn_info
            .extensions
            .map(|e| e.keywords().map(str::to_owned).collect())
            .unwrap_or_default(),
        report_success: settings.report_success,
    };
    // The report goes out before QUIT: a server that never answers QUIT
    // must not keep a delivered message unreported (a wrapper's timeout
    // would record a failure and a retry would send a duplicate).
    let code = match &result {
        Ok(report) => {
            let why = report.failure.as_ref().map(ToString::to_string);
            emit(cli, Some(report), why.as_deref(), &info, &[]);
            outcome_code(report, None)
        }
        Err(e) => {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            report_error(cli, e, Some(&info), &all)
        }
    };
    let tls = conn_info.tls.is_some();
    match &result {
        Ok(report) => {
            let size =
                (code == exit::OK).then(|| counted.load(std::sync::atomic::Ordering::Relaxed));
            let reply = report
                .rejected()
                .map(|(_, reply)| reply)
                .next()
                .or(report.reply.as_ref());
            let why = report.failure.as_ref().map(ToString::to_string);
            log(&logged_envelope, tls, size, reply, why.as_deref(), code);
        }
        Err(e) => {
            let reply = e.report().and_then(|r| r.reply.as_ref());
            log(&logged_envelope, tls, None, reply, Some(&e.chain()), code);
        }
    }
    if result
        .as_ref()
        .map_or_else(Error::connection_usable, |_| true)
    {
        client.close();
    }
    Ok(code)
}

/// `--dry-run`: what would be sent, and to whom; secrets are `[redacted]`,
/// and a `passwordeval` command is not run.
fn dry_run(
    cli: &Cli,
    settings: &ClientSettings,
    envelope: &Envelope,
    header: &[u8],
    logfile: Option<&std::path::Path>,
    unrun_password_eval: bool,
) {
    let tls = &settings.tls;
    let tls_mode = if tls.implicit {
        "implicit"
    } else if tls.starttls_required {
        "starttls-required"
    } else if tls.starttls_enable {
        "starttls"
    } else {
        "none"
    };
    let server = match &settings.unix_socket {
        Some(path) => format!("unix:{}", path.display()),
        None => format!("{}:{}", settings.host, settings.port()),
    };
    let redacted = |s: Option<&smtpkit_proto::Secret>| s.map(|_| "[redacted]");
    let proxy = settings.effective_proxy().map(|p| {
        json!({
            "kind": match p.kind {
                smtpkit_client::ProxyKind::Socks5 => "socks5",
                smtpkit_client::ProxyKind::HttpConnect => "http",
            },
            "server": format!("{}:{}", p.host, p.port),
            "user": p.user,
            "password": redacted(p.password.as_ref()),
        })
    });
    let object = json!({
        "server": server,
        "protocol": if settings.protocol == Protocol::Lmtp { "lmtp" } else { "smtp" },
        "ehlo": settings.local_name.as_ref().map(ToString::to_string),
        "tls": tls_mode,
        "verify_certificate": tls.settings.trust != Trust::All,
        "verify_hostname": tls.settings.check_server_identity,
        "ca_files": tls.settings.extra_ca_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "system_roots": tls.settings.roots != RootSource::None,
        "client_cert": tls.client_cert.as_ref().map(|p| p.display().to_string()),
        "auth": settings.auth.enabled,
        "user": Some(&settings.auth.credentials.user).filter(|u| !u.is_empty()),
        // A dry run never runs passwordeval: it may prompt or unlock a key.
        "password": if unrun_password_eval {
            Some("[passwordeval, not run]")
        } else {
            redacted(Some(&settings.auth.credentials.password).filter(|p| !p.expose().is_empty()))
        },
        "mechanisms": settings.auth.mechanisms,
        "proxy": proxy,
        "dsn_notify": settings.session.dsn_notify.as_ref().map(ToString::to_string),
        "dsn_return": settings.session.dsn_ret.as_ref().map(|r| format!("{r:?}")),
        "logfile": logfile.map(|p| p.display().to_string()),
        "from": envelope.from.to_string(),
        "recipients": envelope.recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(),
        "header": String::from_utf8_lossy(header),
    });
    if cli.json {
        println!("{object}");
        return;
    }
    if let Value::Object(map) = &object {
        for (key, value) in map {
            if key == "header" {
                continue;
            }
            let shown = match value {
                Value::String(s) => s.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            println!("{key}: {shown}");
        }
    }
    println!("header:");
    print!("{}", String::from_utf8_lossy(header));
}

/// What the report says about the session besides the message.
#[derive(Default)]
struct Info {
    /// The TLS connection (`tls_json`), or null.
    tls: Option<Value>,
    auth: Option<String>,
    extensions: Vec<String>,
    /// `mail.smtp.reportsuccess`: list each success with its reply.
    report_success: bool,
}

/// A reply as smtpkit-proto serialises it: code, enhanced_code, message
/// and lines, the text exact.
fn reply_json(reply: &Reply) -> Value {
    serde_json::to_value(reply).unwrap_or(Value::Null)
}

/// Writes the report (JSON on stdout, or a summary on stderr).
/// The `tls` object of every report (send, bulk, demo): null without TLS.
pub fn tls_json(tls: &smtpkit_proto::TlsInfo) -> Value {
    json!({
        "version": tls.version,
        "cipher_suite": tls.cipher_suite,
        "verified": tls.verified,
    })
}

/// Prints the report. `unsent` lists the recipients when there is no
/// report (nothing was sent), so that every recipient appears exactly once.
fn emit(
    cli: &Cli,
    report: Option<&DeliveryReport>,
    error: Option<&str>,
    info: &Info,
    unsent_without_report: &[&str],
) {
    let Info {
        tls,
        auth,
        extensions,
        report_success,
    } = info;
    let accepted: Vec<&str> = report
        .map(|r| r.delivered().map(Address::as_str).collect())
        .unwrap_or_default();
    let rejected: Vec<Value> = report
        .map(|r| {
            r.rejected()
                .map(|(a, reply)| {
                    let mut v = reply_json(reply);
                    v["address"] = json!(a.as_str());
                    v
                })
                .collect()
        })
        .unwrap_or_default();
    let unsent: Vec<&str> = match report {
        Some(r) => r.unsent().map(Address::as_str).collect(),
        None => unsent_without_report.to_vec(),
    };
    if cli.json {
        let mut object = json!({
            "accepted": accepted,
            "rejected": rejected,
            "unsent": unsent,
            "reply": report.and_then(|r| r.reply.as_ref()).map(reply_json),
            // Every recipient with its status, reply or reason, and why the
            // message failed as a whole: the library's report, serialised.
            "recipients": report.map(|r| serde_json::to_value(&r.recipients).unwrap_or(Value::Null)),
            "failure": report.and_then(|r| r.failure.as_ref()).map(|f| serde_json::to_value(f).unwrap_or(Value::Null)),
            "tls": tls,
            "auth": auth,
            "extensions": extensions,
        });
        if *report_success {
            // mail.smtp.reportsuccess: each success with the server's reply,
            // as JavaMail's SMTPAddressSucceededException carries it.
            object["successes"] = report
                .map(|r| {
                    r.recipients
                        .iter()
                        .filter_map(|rr| match &rr.status {
                            smtpkit_proto::RecipientStatus::Delivered(reply) => {
                                let mut v = reply_json(reply);
                                v["address"] = json!(rr.address.as_str());
                                Some(v)
                            }
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into();
        }
        if let Some(error) = error {
            object["error"] = json!(error);
        }
        println!("{object}");
    } else {
        for a in &accepted {
            eprintln!("accepted: {a}");
        }
        for r in &rejected {
            // Server text is data: escaped before it reaches a terminal.
            eprintln!(
                "rejected: {} ({} {})",
                r["address"].as_str().unwrap_or(""),
                r["code"],
                smtpkit_proto::escape_text(r["message"].as_str().unwrap_or(""))
            );
        }
        for a in &unsent {
            eprintln!("unsent: {a}");
        }
        if let Some(error) = error {
            eprintln!("smtp-send: {error}");
        }
    }
}

/// `--runtime` (tokio when not given); a runtime not built in is a usage
/// error.
fn runtime_kind(cli: &Cli) -> Result<conn::RuntimeKind, Fail> {
    match cli.runtime.as_deref() {
        None => Ok(conn::RuntimeKind::Tokio),
        Some(name) => conn::RuntimeKind::parse(name).map_err(|e| fail(exit::USAGE, e)),
    }
}

/// `smtp-send probe`.
fn probe(cli: &Cli) -> Result<u8, Fail> {
    let settings = settings(cli)?;
    let runtime = runtime_kind(cli)?;
    let transcript: Option<smtpkit_blocking::TranscriptHook> = cli
        .transcript
        .then(|| Box::new(|e: &smtpkit_proto::TranscriptEntry| eprintln!("{e}")) as _);
    let client = match conn::connect(runtime, &settings, transcript) {
        Ok(c) => c,
        Err(e) => return Ok(report_error(cli, &e, None, &[])),
    };
    let info = client.info();
    let keywords = |e: Option<&smtpkit_proto::EhloResponse>| -> Vec<String> {
        e.map(|e| e.extensions().iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    };
    let (before, after) = match &info.extensions_before_tls {
        Some(before) => (keywords(Some(before)), keywords(info.extensions.as_ref())),
        None => (keywords(info.extensions.as_ref()), Vec::new()),
    };
    let tls = info.tls.as_ref().map(|info| {
        json!({
            "version": info.version,
            "cipher_suite": info.cipher_suite,
            "verified": info.verified,
            "certificates": info.peer_certificates.iter().map(|der| json!({
                "sha256": hex(&sha256(der)),
                "spki_sha256": smtpkit_tls::spki_sha256(der).map(|d| hex(&d)),
                "length": der.len(),
            })).collect::<Vec<_>>(),
        })
    });
    let report = json!({
        "server": format!("{}:{}", settings.host, settings.port()),
                "greeting": info.greeting.as_ref().map(|g| match g.enhanced_code() {
            Some(e) => format!("{} {e} {}", g.code(), g.message()),
            None => format!("{} {}", g.code(), g.message()),
        }),
        "extensions_before_tls": before,
        "extensions_after_tls": after,
        "tls": tls,
                "auth": info.auth_mechanism,
    });
    client.close();
    if cli.json {
        println!("{report}");
    } else {
        // The JSON is exact; what a person reads is escaped.
        let shown = |v: &[String]| smtpkit_proto::escape_text(&v.join(", ")).into_owned();
        println!(
            "greeting:   {}",
            smtpkit_proto::escape_text(report["greeting"].as_str().unwrap_or("-"))
        );
        println!("extensions: {}", shown(&before));
        match &report["tls"] {
            Value::Null => println!("tls:        none"),
            tls => {
                println!("extensions after TLS: {}", shown(&after));
                println!(
                    "tls:        {} {} (certificate {})",
                    tls["version"].as_str().unwrap_or("?"),
                    tls["cipher_suite"].as_str().unwrap_or("?"),
                    if tls["verified"].as_bool() == Some(true) {
                        "verified"
                    } else {
                        "NOT verified"
                    }
                );
                for (i, cert) in tls["certificates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    println!(
                        "cert[{i}]:    sha256 {}  spki-sha256 {}  {} octets",
                        cert["sha256"].as_str().unwrap_or("?"),
                        cert["spki_sha256"].as_str().unwrap_or("?"),
                        cert["length"]
                    );
                }
            }
        }
    }
    Ok(exit::OK)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 67 when a recipient was refused for good; 75 when every refusal was
/// transient (4xx: try again later, as JavaMail's "valid unsent").
fn refusal_code(report: &DeliveryReport) -> u8 {
    if report.rejected().all(|(_, reply)| reply.is_transient()) {
        exit::TEMPFAIL
    } else {
        exit::NOUSER
    }
}

/// The exit code of a report: 0 when everyone received the message,
/// else as the reason (`cause`: why the connection ended, when it did).
fn outcome_code(report: &DeliveryReport, cause: Option<&Error>) -> u8 {
    match &report.failure {
        None if report.all_delivered() => exit::OK,
        None | Some(FailureKind::RecipientsRejected) => refusal_code(report),
        Some(FailureKind::SenderRejected(r) | FailureKind::MessageRejected(r)) => {
            if r.is_transient() {
                exit::TEMPFAIL
            } else {
                exit::UNAVAILABLE
            }
        }
        Some(FailureKind::ConnectionLost { .. } | FailureKind::NotConnected) => {
            cause.map_or(exit::TEMPFAIL, error_code)
        }
        Some(FailureKind::ContentNotAllowed { .. }) => exit::DATAERR,
        Some(_) => exit::UNAVAILABLE,
    }
}

fn error_code(error: &Error) -> u8 {
    match error {
        Error::Send { report, cause } => outcome_code(report, cause.as_deref()),
        Error::Undelivered(failure) => outcome_code(&failure.report, None),
        Error::Session(e) => session_code(e),
        Error::TlsConfig(_) | Error::AuthConfig(_) => exit::CONFIG,
        Error::Proxy(_) => exit::UNAVAILABLE,
        Error::Body(_) => exit::DATAERR,
        Error::Io(_) => exit::TEMPFAIL,
        _ => exit::UNAVAILABLE,
    }
}

fn session_code(e: &SessionError) -> u8 {
    match e {
        SessionError::Protocol(_)
        | SessionError::UnexpectedReply(_)
        | SessionError::ResponseInjection(_) => exit::PROTOCOL,
        SessionError::Auth(AuthError::Rejected { reply }) if reply.is_transient() => exit::TEMPFAIL,
        SessionError::Auth(_) => exit::NOPERM,
        SessionError::ContentNotAllowed(_) | SessionError::BodyAborted => exit::DATAERR,
        e if e.is_transient() => exit::TEMPFAIL,
        _ => exit::UNAVAILABLE,
    }
}

fn report_error(cli: &Cli, error: &Error, info: Option<&Info>, recipients: &[&str]) -> u8 {
    let empty = Info::default();
    let info = info.unwrap_or(&empty);
    let message = error.chain();
    match error.report() {
        Some(report) => emit(cli, Some(report), Some(&message), info, &[]),
        None => emit(cli, None, Some(&message), info, recipients),
    }
    error_code(error)
}

#[cfg(test)]
mod tests {
    use super::sendmail_args;

    #[test]
    fn sendmail_one_token_options() {
        let args = |a: &[&str]| -> Vec<String> {
            sendmail_args(a.iter().map(std::ffi::OsString::from))
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            args(&[
                "sendmail",
                "-oi",
                "-odi",
                "-oem",
                "-bm",
                "-t",
                "-o",
                "mail.smtp.port=1"
            ]),
            ["sendmail", "-i", "-t", "-o", "mail.smtp.port=1"]
        );
        assert_eq!(args(&["s", "--", "-oi"]), ["s", "--", "-oi"]);
    }
}
