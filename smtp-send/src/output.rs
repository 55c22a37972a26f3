//! What the tool prints: the report (JSON or a summary), the dry run, and
//! the exit status of an outcome.

use serde_json::{Value, json};
use smtpkit_blocking::{ClientSettings, ConnectFailure, Error, Protocol, RootSource, Trust};
use smtpkit_proto::{
    Address, AuthError, DeliveryReport, Envelope, FailureKind, Reply, SessionError, SessionInfo,
    StartTlsPolicy,
};

use crate::cli::Cli;
use crate::exit;
use crate::settings::Resolved;

/// `--dry-run`: what would be sent, and to whom; secrets are `[redacted]`,
/// and a `passwordeval` command is not run.
pub(crate) fn dry_run(
    cli: &Cli,
    resolved: &Resolved,
    relays: &[smtpkit_blocking::ClientSettings],
    envelope: &Envelope,
    header: &[u8],
) {
    let mut object = settings_json(resolved);
    if !relays.is_empty() {
        // A relay set: the servers in the order they are tried (the
        // other settings shown are the first one's).
        object["relays"] = json!(
            relays
                .iter()
                .map(|s| smtpkit_blocking::relay::Relay::new(s.clone()).name)
                .collect::<Vec<_>>()
        );
    }
    object["from"] = json!(envelope.from.to_string());
    object["recipients"] = json!(
        envelope
            .recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect::<Vec<_>>()
    );
    object["header"] = json!(String::from_utf8_lossy(header));
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

/// The effective settings, as the dry run shows them.
fn settings_json(resolved: &Resolved) -> Value {
    let settings = &resolved.settings;
    let tls = &settings.tls;
    // The policy the session will follow (credentials make STARTTLS
    // required), not only what was configured.
    let tls_mode = if tls.implicit {
        "implicit"
    } else {
        match settings.starttls_policy() {
            StartTlsPolicy::Required if !tls.starttls_required => {
                "starttls-required (credentials are set)"
            }
            StartTlsPolicy::Required => "starttls-required",
            StartTlsPolicy::Opportunistic => "starttls",
            StartTlsPolicy::Never => "none",
        }
    };
    let server = match &settings.unix_socket {
        Some(path) => format!("unix:{}", path.display()),
        None => format!("{}:{}", settings.host, settings.port()),
    };
    json!({
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
        "password": if resolved.unrun_password_eval {
            Some("[passwordeval, not run]")
        } else {
            redacted(Some(&settings.auth.credentials.password).filter(|p| !p.expose().is_empty()))
        },
        "mechanisms": settings.auth.mechanisms,
        // Which grant, endpoint and client: never a secret.
        "oauth2": settings.auth.tokens.as_ref().map(|t| t.describe()),
        "proxy": settings.effective_proxy().map(|p| proxy_json(&p)),
        "dsn_notify": settings.session.dsn_notify.as_ref().map(ToString::to_string),
        "dsn_return": settings.session.dsn_ret.as_ref().map(|r| format!("{r:?}")),
        "logfile": resolved.logfile.as_ref().map(|p| p.display().to_string()),
        // The key itself is never shown.
        "dkim": settings.dkim.as_ref().map(|d| format!("d={} s={}", d.settings().domain, d.settings().selector)),
    })
}

fn redacted(secret: Option<&smtpkit_proto::Secret>) -> Option<&'static str> {
    secret.map(|_| "[redacted]")
}

fn proxy_json(p: &smtpkit_client::ProxySettings) -> Value {
    json!({
        "kind": match p.kind {
            smtpkit_client::ProxyKind::Socks5 => "socks5",
            smtpkit_client::ProxyKind::HttpConnect => "http",
        },
        "server": format!("{}:{}", p.host, p.port),
        "user": p.user,
        "password": redacted(p.password.as_ref()),
    })
}

/// What the report says about the session besides the message.
#[derive(Default)]
pub(crate) struct Info {
    /// The TLS connection (`tls_json`), or null.
    pub(crate) tls: Option<Value>,
    pub(crate) auth: Option<String>,
    pub(crate) extensions: Vec<String>,
    /// `mail.smtp.reportsuccess`: list each success with its reply.
    pub(crate) report_success: bool,
}

impl Info {
    /// What `session` knew, for the report.
    pub(crate) fn of(session: &SessionInfo, report_success: bool) -> Info {
        Info {
            tls: session.tls.as_ref().map(tls_json),
            auth: session.auth_mechanism.clone(),
            extensions: session
                .extensions
                .as_ref()
                .map(|e| e.keywords().map(str::to_owned).collect())
                .unwrap_or_default(),
            report_success,
        }
    }
}

/// A reply as smtpkit-proto serialises it: code, enhanced_code, message
/// and lines, the text exact.
fn reply_json(reply: &Reply) -> Value {
    serde_json::to_value(reply).unwrap_or(Value::Null)
}

/// Writes the report (JSON on stdout, or a summary on stderr).
/// The `tls` object of every report (send, bulk, demo): null without TLS.
pub(crate) fn tls_json(tls: &smtpkit_proto::TlsInfo) -> Value {
    json!({
        "version": tls.version,
        "cipher_suite": tls.cipher_suite,
        "verified": tls.verified,
    })
}

/// Prints the report. `unsent` lists the recipients when there is no
/// report (nothing was sent), so that every recipient appears exactly once.
pub(crate) fn emit(
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
            object["successes"] = successes_json(report);
        }
        if let Some(error) = error {
            object["error"] = json!(error);
        }
        println!("{object}");
    } else {
        print_summary(&accepted, &rejected, &unsent, error);
    }
}

/// `mail.smtp.reportsuccess`: each success with the server's reply, as
/// JavaMail's SMTPAddressSucceededException carries it.
fn successes_json(report: Option<&DeliveryReport>) -> Value {
    report
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
        .into()
}

/// The report without `--json`: a line per recipient, on standard error.
fn print_summary(accepted: &[&str], rejected: &[Value], unsent: &[&str], error: Option<&str>) {
    for a in accepted {
        eprintln!("accepted: {a}");
    }
    for r in rejected {
        // Server text is data: escaped before it reaches a terminal.
        eprintln!(
            "rejected: {} ({} {})",
            r["address"].as_str().unwrap_or(""),
            r["code"],
            smtpkit_proto::escape_text(r["message"].as_str().unwrap_or(""))
        );
    }
    for a in unsent {
        eprintln!("unsent: {a}");
    }
    if let Some(error) = error {
        eprintln!("smtp-send: {error}");
    }
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
pub(crate) fn outcome_code(report: &DeliveryReport, cause: Option<&Error>) -> u8 {
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
        Error::Token(e) if e.is_transient() => exit::TEMPFAIL,
        Error::Token(_) => exit::CONFIG,
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

/// [`report_error`] for a connection that could not be made or set up:
/// the message names the server, which may be a default the user never
/// typed (`localhost:25` without `-s` or an msmtp account).
///
/// With an `envelope` the report is the one the library's one-call send
/// gives for a connection that could not be set up
/// ([`Error::not_connected`]): failure `not_connected`, and every
/// recipient unsent with that reason. The session's greeting, extensions
/// and TLS, as far as it got, are reported as after a send.
pub(crate) fn report_connect_error(
    cli: &Cli,
    settings: &ClientSettings,
    failure: ConnectFailure,
    envelope: Option<&Envelope>,
) -> (u8, String) {
    let server = match &settings.unix_socket {
        Some(path) => path.display().to_string(),
        None => format!("{}:{}", settings.host, settings.port()),
    };
    let ConnectFailure { error, info, .. } = failure;
    let message = format!("connecting to {server}: {}", error.chain());
    let error = match envelope {
        Some(envelope) => Error::not_connected(envelope, error),
        None => error,
    };
    let info = Info::of(&info, settings.report_success);
    let code = report(cli, &error, Some(&info), &[], message.clone());
    (code, message)
}

pub(crate) fn report_error(
    cli: &Cli,
    error: &Error,
    info: Option<&Info>,
    recipients: &[&str],
) -> u8 {
    report(cli, error, info, recipients, error.chain())
}

fn report(
    cli: &Cli,
    error: &Error,
    info: Option<&Info>,
    recipients: &[&str],
    message: String,
) -> u8 {
    let empty = Info::default();
    let info = info.unwrap_or(&empty);
    match error.report() {
        Some(report) => emit(cli, Some(report), Some(&message), info, &[]),
        None => emit(cli, None, Some(&message), info, recipients),
    }
    error_code(error)
}
