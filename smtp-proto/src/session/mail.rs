//! What a transaction asks of the server, one extension at a time: what
//! the message needs before MAIL is written (SIZE, 8BITMIME, BINARYMIME,
//! CHUNKING, SMTPUTF8, REQUIRETLS), the transfer (BDAT with CHUNKING), how
//! many recipients one transaction takes (LIMITS RCPTMAX), and every MAIL
//! parameter (SIZE=, BODY=, SMTPUTF8, REQUIRETLS, PRDR, DSN's RET= and
//! ENVID=, AUTH=, MT-PRIORITY=, BY=, the caller's extras). A new MAIL
//! extension is a line here, a field of `MailParameters` (command.rs) and
//! an `Extension` (ehlo.rs).

use crate::command::{BodyType, MailParameters};
use crate::config::{SessionConfig, SessionOptions};
use crate::ehlo::{EhloResponse, Extension};
use crate::envelope::{BodyInfo, Envelope, FailureKind};

use super::Message;

/// What the message needs that the server does not offer (checked
/// before MAIL, so nothing is sent for it).
pub(super) fn unmet_need(
    ehlo: &EhloResponse,
    body: &BodyInfo,
    envelope: &Envelope,
    verified_tls: bool,
) -> Option<FailureKind> {
    let needed = body.body_type.unwrap_or(BodyType::SevenBit);
    let chunking = ehlo.has(&Extension::Chunking);
    if let (Some(size), Some(max)) = (body.size, ehlo.max_message_size())
        && size > max
    {
        return Some(FailureKind::TooLarge { size, max });
    }
    let missing = match needed {
        BodyType::EightBitMime if !ehlo.has(&Extension::EightBitMime) => Some("8BITMIME"),
        BodyType::BinaryMime if !ehlo.has(&Extension::BinaryMime) => Some("BINARYMIME"),
        BodyType::BinaryMime if !chunking => Some("CHUNKING"),
        _ if envelope.needs_smtputf8() && !ehlo.has(&Extension::SmtpUtf8) => Some("SMTPUTF8"),
        _ => None,
    };
    if let Some(extension) = missing {
        return Some(FailureKind::Unsupported { extension });
    }
    (envelope.require_tls && !(verified_tls && ehlo.has(&Extension::RequireTls)))
        .then_some(FailureKind::RequireTlsUnavailable)
}

/// BDAT when CHUNKING is offered and wanted, and always for BINARYMIME.
pub(super) fn uses_bdat(ehlo: &EhloResponse, options: &SessionOptions, body: &BodyInfo) -> bool {
    let chunking = ehlo.has(&Extension::Chunking);
    (options.chunking && chunking) || body.body_type == Some(BodyType::BinaryMime)
}

/// The BODY= declared: what the content needs, or for unknown content
/// the most the server accepts (checked while streaming).
pub(super) fn declared_body(ehlo: &EhloResponse, body: &BodyInfo) -> BodyType {
    match body.body_type {
        Some(t) => t,
        None if ehlo.has(&Extension::EightBitMime) => BodyType::EightBitMime,
        None => BodyType::SevenBit,
    }
}

/// LIMITS RCPTMAX: how many of the `remaining` recipients go in one
/// transaction.
pub(super) fn recipients_per_transaction(ehlo: &EhloResponse, remaining: usize) -> usize {
    ehlo.limits()
        .and_then(|l| l.rcpt_max)
        .filter(|&n| n > 0)
        .map_or(remaining, |n| (n as usize).min(remaining))
}

/// PRDR: asked for when wanted, offered, not LMTP (which has its own
/// per-recipient replies) and useful (several recipients).
pub(super) fn asks_for_prdr(
    ehlo: &EhloResponse,
    config: &SessionConfig,
    recipients: usize,
) -> bool {
    config.options.prdr && !config.lmtp && recipients > 1 && ehlo.has(&Extension::Prdr)
}

/// The MAIL parameters of the transaction `m` is starting.
pub(super) fn parameters(
    ehlo: &EhloResponse,
    options: &SessionOptions,
    m: &Message,
    declared: BodyType,
) -> MailParameters {
    let envelope = &m.envelope;
    let mut params = MailParameters {
        size: m.body.size.filter(|_| ehlo.has(&Extension::Size(None))),
        body: Some(declared).filter(|&d| d != BodyType::SevenBit),
        smtputf8: envelope.needs_smtputf8(),
        requiretls: envelope.require_tls,
        prdr: m.prdr,
        ..MailParameters::default()
    };
    if ehlo.has(&Extension::Dsn) {
        params.ret = envelope.ret.or(options.dsn_ret);
        params.envid = envelope.envid.clone();
    }
    if ehlo.has(&Extension::Auth(Vec::new())) {
        params.auth = envelope
            .submitter
            .clone()
            .or_else(|| options.submitter.clone());
    }
    if ehlo.has(&Extension::MtPriority(None)) {
        params.mt_priority = envelope.mt_priority;
    }
    if ehlo.has(&Extension::DeliverBy(None)) {
        params.by = envelope.deliver_by;
    }
    // Extra parameters never repeat or contradict the ones derived above,
    // nor each other.
    for extra in options.mail_extension.iter().chain(&envelope.extra) {
        let repeated = params
            .extra
            .iter()
            .any(|p| p.keyword().eq_ignore_ascii_case(extra.keyword()));
        if !extra.is_set_by_the_session() && !repeated {
            params.extra.push(extra.clone());
        }
    }
    params
}
