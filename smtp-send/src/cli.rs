//! The command line: the clap [`Cli`], sendmail's one-token options, and
//! the subcommands that print the command line itself (`completions`,
//! `man`).

use std::io::{self, Write};

use clap::{Parser, Subcommand};

use crate::exit;

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
  69  the server refused permanently (5xx), lacks what is needed (STARTTLS
      when credentials are set, 8BITMIME, SIZE), or TLS or the proxy
      failed (an untrusted or mismatched certificate)
  75  temporary failure (4xx, connection lost, timeout)
  76  malformed server reply
  77  authentication failed
  78  configuration error, or an unknown mail.smtp.* key (-o, --properties;
      the closest known key is named)";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "smtp-send",
    version,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
// The demo is offered only by a binary that has it.
#[cfg_attr(
    feature = "demo",
    command(about = "Send one message over SMTP, or run the embedded demo")
)]
#[cfg_attr(not(feature = "demo"), command(about = "Send one message over SMTP"))]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Commands>,

    /// Server as HOST[:PORT] (default localhost:25, 24 with --lmtp), or
    /// unix:PATH for a Unix domain socket; repeat it for relays to fail
    /// over to, in order (each recipient's relay is in the report)
    #[arg(
        global = true,
        short = 's',
        long = "server",
        value_name = "HOST[:PORT]|unix:PATH"
    )]
    pub(crate) server: Vec<String>,

    /// Speak LMTP (RFC 2033): LHLO, and one reply per recipient after the
    /// data (a recipient refused then counts as refused)
    #[arg(global = true, long = "lmtp")]
    pub(crate) lmtp: bool,

    /// Envelope sender (default: the From: header's address)
    #[arg(global = true, short = 'f', long = "from", value_name = "ADDRESS")]
    pub(crate) from: Option<String>,

    /// Also take recipients from To:, Cc:, Bcc:; strip Bcc:
    #[arg(global = true, short = 't', long = "read-recipients")]
    pub(crate) read_recipients: bool,

    /// The RFC 5322 message (default: standard input)
    #[arg(global = true, short = 'm', long = "message", value_name = "FILE")]
    pub(crate) message: Option<std::path::PathBuf>,

    /// EHLO name
    #[arg(global = true, long = "ehlo", value_name = "NAME")]
    pub(crate) ehlo: Option<String>,

    /// Any mail.smtp.* property (an unknown key is an error); repeatable,
    /// later wins
    #[arg(global = true, short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub(crate) options: Vec<String>,

    /// A Java .properties file of such keys
    #[arg(global = true, long = "properties", value_name = "FILE")]
    pub(crate) properties: Option<std::path::PathBuf>,

    /// One JSON report object on stdout
    #[arg(global = true, long = "json")]
    pub(crate) json: bool,

    /// The dialogue on stderr, lines "C: " / "S: " (and "* " for TLS/AUTH notes)
    #[arg(global = true, long = "transcript")]
    pub(crate) transcript: bool,

    /// Authenticate as NAME (sets mail.smtp.user and mail.smtp.auth)
    #[arg(global = true, short = 'u', long = "user", value_name = "NAME")]
    pub(crate) user: Option<String>,

    /// Read the password (or OAuth token) from this environment variable
    #[arg(
        long = "password-env",
        value_name = "VAR",
        conflicts_with = "password_file"
    )]
    pub(crate) password_env: Option<String>,

    /// Read the password (or OAuth token) from the first line of FILE
    #[arg(global = true, long = "password-file", value_name = "FILE")]
    pub(crate) password_file: Option<std::path::PathBuf>,

    /// Send lines longer than 998 octets as they are (mail.smtp.allowlonglines); refused by default
    #[arg(global = true, long = "allow-long-lines")]
    pub(crate) allow_long_lines: bool,

    /// Sign with DKIM for DOMAIN (d=); needs --dkim-selector and --dkim-key
    #[arg(global = true, long = "dkim-domain", value_name = "DOMAIN")]
    pub(crate) dkim_domain: Option<String>,

    /// The DKIM selector (s=): the key is published at SELECTOR._domainkey.DOMAIN
    #[arg(global = true, long = "dkim-selector", value_name = "SELECTOR")]
    pub(crate) dkim_selector: Option<String>,

    /// The DKIM private key: RSA or Ed25519, PEM or DER; readable by its owner only
    #[arg(global = true, long = "dkim-key", value_name = "FILE")]
    pub(crate) dkim_key: Option<std::path::PathBuf>,

    /// DKIM canonicalisation, HEADER/BODY or one for both: relaxed (default) or simple
    #[arg(global = true, long = "dkim-canonicalization", value_name = "C[/C]")]
    pub(crate) dkim_canonicalization: Option<String>,

    /// OAuth 2.0: the token endpoint (https://); the tokens go by XOAUTH2 or
    /// OAUTHBEARER and are renewed as they expire. With
    /// --oauth2-refresh-token-file, the refresh-token grant; else client credentials
    #[arg(global = true, long = "oauth2-token-url", value_name = "URL")]
    pub(crate) oauth2_token_url: Option<String>,

    /// OAuth 2.0: the client id
    #[arg(global = true, long = "oauth2-client-id", value_name = "ID")]
    pub(crate) oauth2_client_id: Option<String>,

    /// OAuth 2.0: the client secret, first line of FILE (readable by its owner only)
    #[arg(global = true, long = "oauth2-client-secret-file", value_name = "FILE")]
    pub(crate) oauth2_client_secret_file: Option<std::path::PathBuf>,

    /// OAuth 2.0: the client secret, from this environment variable
    #[arg(
        long = "oauth2-client-secret-env",
        value_name = "VAR",
        conflicts_with = "oauth2_client_secret_file"
    )]
    pub(crate) oauth2_client_secret_env: Option<String>,

    /// OAuth 2.0: send the client secret in the form (client_secret_post), not HTTP Basic
    #[arg(global = true, long = "oauth2-secret-in-form")]
    pub(crate) oauth2_secret_in_form: bool,

    /// OAuth 2.0: authenticate the client with this private key (private_key_jwt, RS256/ES256, PEM; owner-only)
    #[arg(global = true, long = "oauth2-client-key", value_name = "FILE")]
    pub(crate) oauth2_client_key: Option<std::path::PathBuf>,

    /// OAuth 2.0: the client key's id (the assertion's kid)
    #[arg(
        global = true,
        long = "oauth2-client-key-id",
        value_name = "KID",
        requires = "oauth2_client_key"
    )]
    pub(crate) oauth2_client_key_id: Option<String>,

    /// OAuth 2.0: the client key's certificate (PEM): its thumbprints go in x5t (Microsoft Entra)
    #[arg(
        global = true,
        long = "oauth2-client-certificate",
        value_name = "FILE",
        requires = "oauth2_client_key"
    )]
    pub(crate) oauth2_client_certificate: Option<std::path::PathBuf>,

    /// OAuth 2.0: the refresh token, first line of FILE (owner-only): the refresh-token grant
    #[arg(global = true, long = "oauth2-refresh-token-file", value_name = "FILE")]
    pub(crate) oauth2_refresh_token_file: Option<std::path::PathBuf>,

    /// OAuth 2.0: the refresh token, from this environment variable
    #[arg(
        long = "oauth2-refresh-token-env",
        value_name = "VAR",
        conflicts_with = "oauth2_refresh_token_file"
    )]
    pub(crate) oauth2_refresh_token_env: Option<String>,

    /// OAuth 2.0: a Google service account's JSON key file (owner-only): the JWT-bearer grant at its token_uri
    #[arg(global = true, long = "oauth2-service-account", value_name = "FILE")]
    pub(crate) oauth2_service_account: Option<std::path::PathBuf>,

    /// OAuth 2.0: the user a service account acts for (sub; domain-wide delegation)
    #[arg(
        global = true,
        long = "oauth2-subject",
        value_name = "ADDRESS",
        requires = "oauth2_service_account"
    )]
    pub(crate) oauth2_subject: Option<String>,

    /// OAuth 2.0: the scope to ask for
    #[arg(global = true, long = "oauth2-scope", value_name = "SCOPE")]
    pub(crate) oauth2_scope: Option<String>,

    /// OAuth 2.0: also trust this CA (PEM) for the token endpoint
    #[arg(global = true, long = "oauth2-ca", value_name = "FILE")]
    pub(crate) oauth2_ca: Option<std::path::PathBuf>,

    /// OAuth 2.0: a command whose first line of output is an access token, run
    /// again when the server refuses the token (sh -c CMD)
    #[arg(global = true, long = "oauth2-token-command", value_name = "CMD")]
    pub(crate) oauth2_token_command: Option<String>,

    /// SASL mechanisms to consider, in order (mail.smtp.auth.mechanisms)
    #[arg(global = true, long = "auth", value_name = "MECH[,MECH...]")]
    pub(crate) auth: Option<String>,

    /// Allow PLAIN and LOGIN on a connection without TLS (refused by default)
    #[arg(global = true, long = "allow-plaintext-auth")]
    pub(crate) allow_plaintext_auth: bool,

    /// TLS: none, starttls (when offered; the default), starttls-required, implicit
    #[arg(global = true, long = "tls", value_name = "MODE", value_parser = ["none", "starttls", "starttls-required", "implicit"])]
    pub(crate) tls: Option<String>,

    /// Also trust the CA certificates in this PEM file (repeatable)
    #[arg(global = true, long = "ca", value_name = "FILE")]
    pub(crate) ca: Vec<std::path::PathBuf>,

    /// Accept any certificate (mail.smtp.ssl.trust=*): no verification at all
    #[arg(global = true, long = "trust-all")]
    pub(crate) trust_all: bool,

    /// Verify the chain but not the host name (mail.smtp.ssl.checkserveridentity=false)
    #[arg(global = true, long = "no-verify-hostname")]
    pub(crate) no_verify_hostname: bool,

    /// A client certificate chain (PEM), with --client-key
    #[arg(
        global = true,
        long = "client-cert",
        value_name = "FILE",
        requires = "client_key"
    )]
    pub(crate) client_cert: Option<std::path::PathBuf>,

    /// The client certificate's private key (PEM)
    #[arg(
        global = true,
        long = "client-key",
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub(crate) client_key: Option<std::path::PathBuf>,

    /// Connect through a SOCKS5 proxy (the server name is resolved by the proxy)
    #[arg(
        global = true,
        long = "socks5",
        value_name = "HOST:PORT",
        conflicts_with = "proxy"
    )]
    pub(crate) socks5: Option<String>,

    /// User name for the SOCKS5 proxy
    #[arg(
        global = true,
        long = "socks5-user",
        value_name = "NAME",
        requires = "socks5"
    )]
    pub(crate) socks5_user: Option<String>,

    /// Read the SOCKS5 password from this environment variable
    #[arg(
        long = "socks5-password-env",
        value_name = "VAR",
        requires = "socks5_user"
    )]
    pub(crate) socks5_password_env: Option<String>,

    /// Runtime: blocking, tokio (the default), smol, or async-std (built with the `async-std` feature)
    #[arg(global = true, long = "runtime", value_name = "RUNTIME", value_parser = ["blocking", "tokio", "async-std", "smol"])]
    pub(crate) runtime: Option<String>,

    /// Bulk mode: send the message N times
    #[arg(global = true, long = "count", value_name = "N")]
    pub(crate) count: Option<u64>,

    /// Bulk mode: over C concurrent connections (default 1)
    #[arg(
        global = true,
        long = "connections",
        value_name = "C",
        default_value_t = 1
    )]
    pub(crate) connections: usize,

    /// Connect through an HTTP CONNECT proxy (credentials: -o mail.smtp.proxy.user/password)
    #[arg(global = true, long = "proxy", value_name = "HOST:PORT")]
    pub(crate) proxy: Option<String>,

    /// An msmtp configuration file (default, when -s is not given:
    /// ~/.msmtprc, then $XDG_CONFIG_HOME/msmtp/config)
    #[arg(global = true, short = 'C', long = "file", value_name = "FILE")]
    pub(crate) msmtp_file: Option<std::path::PathBuf>,

    /// The account of the msmtp configuration file (default: its default
    /// account); NAME,NAME,... is a list of relays to fail over to, in order
    #[arg(
        global = true,
        short = 'a',
        long = "account",
        value_name = "NAME[,NAME...]"
    )]
    pub(crate) account: Option<String>,

    /// Append one line per message to FILE, as msmtp's log (`-`: standard output)
    #[arg(global = true, short = 'X', long = "logfile", value_name = "FILE")]
    pub(crate) logfile: Option<std::path::PathBuf>,

    /// sendmail's -i / -oi: accepted; a line with a lone dot never ends the
    /// input (it never does: the message ends at the end of the input)
    #[arg(short = 'i')]
    pub(crate) ignore_dots: bool,

    /// DSN notify: never, or success,failure,delay (mail.smtp.dsn.notify)
    #[arg(global = true, short = 'N', long = "dsn-notify", value_name = "WHEN")]
    pub(crate) dsn_notify: Option<String>,

    /// DSN return: full or hdrs (mail.smtp.dsn.ret)
    #[arg(global = true, short = 'R', long = "dsn-return", value_name = "WHAT")]
    pub(crate) dsn_return: Option<String>,

    /// Full name for a From: header added when the message has none
    /// (From: NAME <envelope sender>; ASCII)
    #[arg(short = 'F', long = "full-name", value_name = "NAME")]
    pub(crate) full_name: Option<String>,

    /// The envelope sender is the message's From: address, whatever -f, the
    /// properties or the msmtp account say
    #[arg(long = "read-envelope-from")]
    pub(crate) read_envelope_from: bool,

    /// Quick message: a recipient, in To: and the envelope (repeatable);
    /// without --body, a short test message is sent
    #[arg(long = "to", value_name = "ADDRESS", conflicts_with_all = ["message", "read_recipients"])]
    pub(crate) to: Vec<String>,

    /// Quick message: the Subject: (default "smtp-send test")
    #[arg(long = "subject", value_name = "TEXT", conflicts_with = "message")]
    pub(crate) subject: Option<String>,

    /// Quick message: another header line 'Name: value' (repeatable; CR/LF refused)
    #[arg(
        long = "header",
        value_name = "NAME: VALUE",
        conflicts_with = "message"
    )]
    pub(crate) headers: Vec<String>,

    /// Quick message: the text body, or @FILE
    #[arg(long = "body", value_name = "TEXT|@FILE", conflicts_with = "message")]
    pub(crate) body: Option<String>,

    /// Quick message: attach FILE (repeatable; type from the extension; base64, or quoted-printable for text)
    #[arg(long = "attach", value_name = "FILE", conflicts_with = "message")]
    pub(crate) attach: Vec<std::path::PathBuf>,

    /// Print the resolved settings (secrets redacted), the envelope and the
    /// header that would be sent; connect to nothing (msmtp's --pretend)
    #[arg(global = true, long = "dry-run", visible_alias = "pretend")]
    pub(crate) dry_run: bool,

    /// Recipients
    #[arg(value_name = "RECIPIENT")]
    pub(crate) recipients: Vec<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub(crate) enum Commands {
    /// Start an in-process test server and send a sample message to two
    /// recipients, one of which is refused; exit 0 when all went as expected
    /// (built with the `demo` feature)
    #[cfg_attr(not(feature = "demo"), command(hide = true))]
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

/// The command line, as sendmail's when invoked as `sendmail` (a symlink
/// or a copy: the same command line, which already is sendmail's, under
/// that name in messages). `Err`: clap printed the help, the version or
/// the usage error; the exit status.
pub(crate) fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, u8> {
    let args = sendmail_args(args);
    let as_sendmail = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "sendmail");
    let mut command = <Cli as clap::CommandFactory>::command();
    if as_sendmail {
        command = command.name("sendmail").bin_name("sendmail");
    }
    command
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
        .map_err(|e| {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            code
        })
}

/// `smtp-send completions SHELL`.
pub(crate) fn completions(shell: clap_complete::Shell) -> u8 {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "smtp-send", &mut io::stdout());
    exit::OK
}

/// `smtp-send man`: the page generated from the command line.
pub(crate) fn man() -> u8 {
    let command = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    match clap_mangen::Man::new(command).render(&mut page) {
        Ok(()) => match io::stdout().write_all(&page) {
            Ok(()) => exit::OK,
            Err(_) => exit::TEMPFAIL,
        },
        Err(e) => {
            eprintln!("smtp-send: man: {e}");
            exit::TEMPFAIL
        }
    }
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
