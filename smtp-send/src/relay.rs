//! A repeated `-s`: the message through a relay set (smtp-blocking's
//! `RelayPool`), failing over in order, each recipient's outcome and
//! relay in the report.

use serde_json::{Value, json};
use smtpkit_blocking::relay::{Outcome, Relay, RelayPolicy, RelayReport, RelaySet};
use smtpkit_blocking::{Body, ClientSettings, PoolConfig, RelayPool};
use smtpkit_proto::Envelope;

use crate::cli::Cli;
use crate::message::Message;
use crate::{Fail, exit};

/// Sends the message through `relays` (in order) and reports; the exit
/// status: 0 when every recipient was delivered, 67 when one was refused
/// for good, 75 when one is still deferred or may have been delivered
/// (unknown: not sent again, so a retry could duplicate it).
pub(crate) fn one(
    cli: &Cli,
    relays: Vec<ClientSettings>,
    envelope: Envelope,
    message: Message,
) -> Result<u8, Fail> {
    // Every relay may need the message: it is held in memory.
    let data = message.into_bytes()?;
    let set = RelaySet::new(relays.into_iter().map(Relay::new)).with_policy(
        // A command line waits a little, not a queue's hours.
        RelayPolicy::default().with_max_attempts(3),
    );
    let pool = RelayPool::new(set, PoolConfig::default());
    let result = pool.send(envelope, Body::Bytes(&data));
    pool.close();
    let report = match result {
        Ok(report) => report,
        Err(e) => return Err(crate::fail(exit::DATAERR, e.to_string())),
    };
    emit(cli, &report);
    Ok(code(&report))
}

fn code(report: &RelayReport) -> u8 {
    let any = |f: fn(&Outcome) -> bool| report.recipients.iter().any(|r| f(&r.outcome));
    if report.all_delivered() {
        exit::OK
    } else if any(|o| matches!(o, Outcome::Deferred { .. } | Outcome::Unknown { .. })) {
        exit::TEMPFAIL
    } else if any(|o| matches!(o, Outcome::Failed { .. })) {
        exit::DATAERR
    } else {
        exit::NOUSER
    }
}

fn outcome_json(outcome: &Outcome) -> Value {
    let reply = |r: &smtpkit_proto::Reply| serde_json::to_value(r).unwrap_or(Value::Null);
    match outcome {
        Outcome::Delivered { reply: r, .. } => json!({"status": "delivered", "reply": reply(r)}),
        Outcome::Rejected { reply: r, .. } => json!({"status": "rejected", "reply": reply(r)}),
        Outcome::Deferred {
            reply: r, attempts, ..
        } => json!({"status": "deferred", "reply": r.as_ref().map(reply), "attempts": attempts}),
        Outcome::Unknown { .. } => json!({"status": "unknown"}),
        Outcome::Failed { reason } => json!({"status": "failed", "reason": reason}),
        _ => json!({"status": "other"}),
    }
}

fn emit(cli: &Cli, report: &RelayReport) {
    if cli.json {
        let recipients: Vec<Value> = report
            .recipients
            .iter()
            .map(|r| {
                let mut v = outcome_json(&r.outcome);
                v["address"] = json!(r.address.as_str());
                v["relay"] = json!(r.relay);
                v
            })
            .collect();
        let failures: Vec<Value> = report
            .failures
            .iter()
            .map(|(relay, why)| json!({"relay": relay, "error": why}))
            .collect();
        println!(
            "{}",
            json!({
                "recipients": recipients,
                "failovers": failures,
                "sends": report.sends,
                "rate_waits": report.rate_waits,
            })
        );
        return;
    }
    for (relay, why) in &report.failures {
        eprintln!("relay {relay} failed: {}", smtpkit_proto::escape_text(why));
    }
    for r in &report.recipients {
        let relay = r.relay.as_deref().unwrap_or("-");
        let line = match &r.outcome {
            Outcome::Delivered { .. } => format!("accepted: {} (via {relay})", r.address),
            Outcome::Rejected { reply, .. } => {
                format!("rejected: {} ({reply}, via {relay})", r.address)
            }
            Outcome::Deferred { reply, .. } => match reply {
                Some(reply) => format!("deferred: {} ({reply}, via {relay})", r.address),
                None => format!("deferred: {} (no relay took the session)", r.address),
            },
            Outcome::Unknown { .. } => format!(
                "unknown: {} (the end of data reached {relay}, no reply came; not sent again)",
                r.address
            ),
            Outcome::Failed { reason } => format!("unsent: {} ({reason})", r.address),
            _ => format!("unsent: {}", r.address),
        };
        eprintln!("{}", smtpkit_proto::escape_text(&line));
    }
}
