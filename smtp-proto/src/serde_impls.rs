//! `serde::Serialize` for what a caller stores or reports: replies,
//! addresses and delivery reports (feature `serde`). The shapes are
//! chosen for logs and JSON reports, not for round trips.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::{
    Address, DeliveryReport, EnhancedStatusCode, FailureKind, MessageId, RecipientReport,
    RecipientStatus, Reply, ReplyCode, SendFailure, UnsentReason,
};

impl Serialize for ReplyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.get())
    }
}

/// As text: `"5.1.1"`.
impl Serialize for EnhancedStatusCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `{"code": 250, "enhanced_code": "2.0.0" | null, "message": "...", "lines": [...]}`:
/// the text exactly as received (a JSON serialiser escapes it).
impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Reply", 4)?;
        st.serialize_field("code", &self.code())?;
        st.serialize_field("enhanced_code", &self.enhanced_code())?;
        st.serialize_field("message", &self.message())?;
        st.serialize_field("lines", self.lines())?;
        st.end()
    }
}

/// As the address text.
impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl Serialize for UnsentReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            UnsentReason::TransactionFailed => "transaction_failed",
            UnsentReason::RcptMax => "rcpt_max",
            UnsentReason::ConnectionLost => "connection_lost",
            UnsentReason::NotConnected => "not_connected",
        })
    }
}

/// `{"address": "...", "status": "delivered" | "rejected" | "accepted_unsent"
/// | "unsent", "reply": {...} | null, "reason": "..." | null}` (`reason`
/// says why an unsent recipient was not tried).
impl Serialize for RecipientReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (status, reply, reason) = match &self.status {
            RecipientStatus::Delivered(r) => ("delivered", Some(r), None),
            RecipientStatus::Rejected(r) => ("rejected", Some(r), None),
            RecipientStatus::AcceptedUnsent(r) => ("accepted_unsent", Some(r), None),
            RecipientStatus::Unsent(why) => ("unsent", None, Some(why)),
        };
        let mut st = s.serialize_struct("RecipientReport", 4)?;
        st.serialize_field("address", &self.address)?;
        st.serialize_field("status", status)?;
        st.serialize_field("reply", &reply)?;
        st.serialize_field("reason", &reason)?;
        st.end()
    }
}

/// `{"kind": "sender_rejected", "reply": {...}}`, `{"kind":
/// "connection_lost", "data_sent": true, "reply": null}`, `{"kind":
/// "too_large", "size": 10, "max": 5}`, …, plus `"text"`: the `Display`.
impl Serialize for FailureKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("FailureKind", 5)?;
        let kind = match self {
            FailureKind::SenderRejected(_) => "sender_rejected",
            FailureKind::RecipientsRejected => "recipients_rejected",
            FailureKind::MessageRejected(_) => "message_rejected",
            FailureKind::TooLarge { .. } => "too_large",
            FailureKind::Unsupported { .. } => "unsupported",
            FailureKind::RequireTlsUnavailable => "require_tls_unavailable",
            FailureKind::ContentNotAllowed { .. } => "content_not_allowed",
            FailureKind::BodyAborted => "body_aborted",
            FailureKind::NotConnected => "not_connected",
            FailureKind::ConnectionLost { .. } => "connection_lost",
        };
        st.serialize_field("kind", kind)?;
        match self {
            FailureKind::SenderRejected(r) | FailureKind::MessageRejected(r) => {
                st.serialize_field("reply", r)?;
            }
            FailureKind::TooLarge { size, max } => {
                st.serialize_field("size", size)?;
                st.serialize_field("max", max)?;
            }
            FailureKind::Unsupported { extension } => {
                st.serialize_field("extension", extension)?;
            }
            FailureKind::ContentNotAllowed { needed } => {
                st.serialize_field("needed", &format!("{needed:?}"))?;
            }
            FailureKind::ConnectionLost { data_sent, reply } => {
                st.serialize_field("data_sent", data_sent)?;
                st.serialize_field("reply", reply)?;
            }
            _ => {}
        }
        st.serialize_field("text", &self.to_string())?;
        st.end()
    }
}

/// `{"id", "recipients": [...], "reply", "transactions", "failure"}`.
impl Serialize for DeliveryReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("DeliveryReport", 5)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("recipients", &self.recipients)?;
        st.serialize_field("reply", &self.reply)?;
        st.serialize_field("transactions", &self.transactions)?;
        st.serialize_field("failure", &self.failure)?;
        st.end()
    }
}

/// `{"kind": {...}, "report": {...}}`.
impl Serialize for SendFailure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SendFailure", 2)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("report", &self.report)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        let line = format!("{code} {text}\r\n");
        match crate::ReplyDecoder::default().decode(line.as_bytes()) {
            Ok(crate::Decoded::Complete { item, .. }) => item,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_report_serialises_every_recipient_with_its_reply() {
        let report = DeliveryReport::new(
            MessageId(7),
            vec![
                RecipientReport::new(
                    Address::parse("a@example.org").unwrap(),
                    RecipientStatus::Rejected(reply(550, "5.1.1 no \u{9b}2J such user")),
                ),
                RecipientReport::new(
                    Address::parse("b@example.org").unwrap(),
                    RecipientStatus::Unsent(UnsentReason::ConnectionLost),
                ),
            ],
            None,
        )
        .with_failure(FailureKind::ConnectionLost {
            data_sent: true,
            reply: None,
        });
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["id"], 7);
        assert_eq!(json["recipients"][0]["address"], "a@example.org");
        assert_eq!(json["recipients"][0]["status"], "rejected");
        assert_eq!(json["recipients"][0]["reply"]["code"], 550);
        assert_eq!(json["recipients"][0]["reply"]["enhanced_code"], "5.1.1");
        // Exact text: the serialiser escapes it, nothing is lost.
        assert_eq!(
            json["recipients"][0]["reply"]["message"],
            "no \u{9b}2J such user"
        );
        assert_eq!(json["recipients"][1]["status"], "unsent");
        assert_eq!(json["recipients"][1]["reason"], "connection_lost");
        assert_eq!(json["failure"]["kind"], "connection_lost");
        assert_eq!(json["failure"]["data_sent"], true);
        assert!(
            serde_json::to_string(&report)
                .unwrap()
                .contains("no \u{9b}2J")
        );
    }
}
