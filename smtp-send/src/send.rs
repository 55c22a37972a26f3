//! One send: connect, send the message, report, write the log line, QUIT.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use smtpkit_blocking::{ClientSettings, Error};
use smtpkit_proto::{DeliveryReport, Envelope, Reply, ReversePath};

use crate::cli::Cli;
use crate::conn::{self, RuntimeKind, SendBody};
use crate::message::{Counting, Message};
use crate::output::{self, Info};
use crate::settings::Resolved;
use crate::{Fail, exit, log};

/// Sends the message once and reports; the exit status.
pub(crate) fn one(
    cli: &Cli,
    resolved: &Resolved,
    runtime: RuntimeKind,
    envelope: Envelope,
    message: Message,
) -> Result<u8, Fail> {
    let settings = &resolved.settings;
    let log = Log {
        path: resolved.logfile.as_deref(),
        settings,
    };
    let mut client = match conn::connect(runtime, settings, transcript(cli)) {
        Ok(c) => c,
        Err(e) => {
            // Nothing was sent: every recipient is unsent, and says so.
            let (code, why) = output::report_connect_error(cli, settings, e, Some(&envelope));
            log.write(&envelope, false, None, None, Some(&why), code);
            return Ok(code);
        }
    };
    let (body, counted) = body(cli, message);
    let logged_envelope = envelope.clone();
    let all: Vec<String> = addresses(&envelope)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let result = client.send(envelope, body);
    let session = client.info();
    // The report goes out before QUIT: a server that never answers QUIT
    // must not keep a delivered message unreported (a wrapper's timeout
    // would record a failure and a retry would send a duplicate).
    let info = Info::of(&session, settings.report_success);
    let code = match &result {
        Ok(report) => {
            let why = report.failure.as_ref().map(ToString::to_string);
            output::emit(cli, Some(report), why.as_deref(), &info, &[]);
            output::outcome_code(report, None)
        }
        Err(e) => {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            output::report_error(cli, e, Some(&info), &all)
        }
    };
    let size = (code == exit::OK).then(|| counted.load(Ordering::Relaxed));
    log.result(&logged_envelope, session.tls.is_some(), size, &result, code);
    if result
        .as_ref()
        .map_or_else(Error::connection_usable, |_| true)
    {
        client.close();
    }
    Ok(code)
}

/// `--transcript`: the dialogue on standard error.
pub(crate) fn transcript(cli: &Cli) -> Option<smtpkit_blocking::TranscriptHook> {
    cli.transcript
        .then(|| Box::new(|e: &smtpkit_proto::TranscriptEntry| eprintln!("{e}")) as _)
}

fn addresses(envelope: &Envelope) -> Vec<&str> {
    envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect()
}

/// The body to send, and the octets sent so far (the log's size): `-m
/// FILE` as a file when the header was not rewritten, else a stream.
fn body(cli: &Cli, message: Message) -> (SendBody, Arc<AtomicU64>) {
    let counted = Arc::new(AtomicU64::new(0));
    let body = match (&cli.message, message.rewritten) {
        (Some(path), false) => {
            drop(message.rest);
            if let Ok(meta) = std::fs::metadata(path) {
                counted.store(meta.len(), Ordering::Relaxed);
            }
            SendBody::File(path.clone())
        }
        _ => SendBody::Stream(Box::new(Counting {
            inner: io::Cursor::new(message.header).chain(message.rest),
            count: counted.clone(),
        })),
    };
    (body, counted)
}

/// msmtp's log line (`-X`, the account's `logfile`), when there is a log.
struct Log<'a> {
    path: Option<&'a Path>,
    settings: &'a ClientSettings,
}

impl Log<'_> {
    /// The line for a send's result: the first refusal's reply, else the
    /// last reply.
    fn result(
        &self,
        envelope: &Envelope,
        tls: bool,
        size: Option<u64>,
        result: &Result<DeliveryReport, Error>,
        code: u8,
    ) {
        match result {
            Ok(report) => {
                let reply = report
                    .rejected()
                    .map(|(_, reply)| reply)
                    .next()
                    .or(report.reply.as_ref());
                let why = report.failure.as_ref().map(ToString::to_string);
                self.write(envelope, tls, size, reply, why.as_deref(), code);
            }
            Err(e) => {
                let reply = e.report().and_then(|r| r.reply.as_ref());
                self.write(envelope, tls, None, reply, Some(&e.chain()), code);
            }
        }
    }

    fn write(
        &self,
        envelope: &Envelope,
        tls: bool,
        size: Option<u64>,
        reply: Option<&Reply>,
        error: Option<&str>,
        code: u8,
    ) {
        let Some(path) = self.path else {
            return;
        };
        let recipients: Vec<String> = addresses(envelope).into_iter().map(str::to_owned).collect();
        let from = match &envelope.from {
            ReversePath::Mailbox(a) => a.as_str().to_owned(),
            _ => String::new(),
        };
        let settings = self.settings;
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
}
