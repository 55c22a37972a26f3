//! What the virtual-time tests of every client check, written once: each
//! client's test drives its own virtual clock (tokio's paused time, the
//! blocking client's `Clock`) and hands the outcome here.

use std::time::Duration;

use smtpkit_client::Error;
use smtpkit_proto::{DeliveryReport, SessionError};

/// The MAIL reply deadline of the scenario (`timeouts.mail`).
pub const MAIL_TIMEOUT: Duration = Duration::from_secs(120);

/// A MAIL that is never answered fails the message with a MAIL timeout of
/// [`MAIL_TIMEOUT`], after that much virtual time (and not a second
/// more), in a moment of real time.
pub fn unanswered_mail_times_out_on_time(
    result: &Result<DeliveryReport, Error>,
    waited: Duration,
    real: Duration,
) {
    let Err(Error::Send { cause, .. }) = result else {
        panic!("{result:?}")
    };
    assert!(
        matches!(cause.as_deref(), Some(Error::Session(SessionError::Timeout { waiting_for: "MAIL", after })) if *after == MAIL_TIMEOUT),
        "{cause:?}"
    );
    assert!(
        waited >= MAIL_TIMEOUT && waited < MAIL_TIMEOUT + Duration::from_secs(1),
        "{waited:?}"
    );
    assert!(real < Duration::from_secs(5), "{real:?}");
}
