//! `smtp-send`: send one RFC 5322 message over SMTP, or run the demo.
//! See `smtp-send --help`.

use std::io::{self, Read};
use std::process::ExitCode;

use smtpkit_blocking::Error;
use smtpkit_proto::{Address, Envelope, Reply, ReversePath};

use cli::{Cli, Commands, sendmail_args};
use message::{Counting, read_message};
use output::{Info, dry_run, emit, outcome_code, report_error, tls_json};
use probe::probe;
use settings::settings_and_account;

mod bulk;
mod cli;
mod conn;
#[cfg(feature = "demo")]
mod demo;
mod log;
mod message;
mod msmtprc;
mod output;
mod probe;
mod quick;
mod settings;

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

/// `--runtime` (tokio when not given); a runtime not built in is a usage
/// error.
fn runtime_kind(cli: &Cli) -> Result<conn::RuntimeKind, Fail> {
    match cli.runtime.as_deref() {
        None => Ok(conn::RuntimeKind::Tokio),
        Some(name) => conn::RuntimeKind::parse(name).map_err(|e| fail(exit::USAGE, e)),
    }
}
