//! msmtp's log line (`-X FILE`, the account's `logfile`): one line per
//! message, appended; `-` is standard output.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::exit;

/// What one line says.
pub(crate) struct Entry<'a> {
    pub host: &'a str,
    pub tls: bool,
    pub auth: bool,
    pub user: Option<&'a str>,
    pub from: &'a str,
    pub recipients: &'a [String],
    /// Octets of the message, when it was delivered.
    pub size: Option<u64>,
    /// The server's last reply, when there is one.
    pub reply: Option<&'a smtpkit_proto::Reply>,
    pub error: Option<&'a str>,
    pub code: u8,
}

/// sysexits names, as msmtp writes them.
pub(crate) fn exit_name(code: u8) -> &'static str {
    match code {
        exit::OK => "EX_OK",
        exit::USAGE => "EX_USAGE",
        exit::DATAERR => "EX_DATAERR",
        exit::NOUSER => "EX_NOUSER",
        exit::UNAVAILABLE => "EX_UNAVAILABLE",
        exit::TEMPFAIL => "EX_TEMPFAIL",
        exit::PROTOCOL => "EX_PROTOCOL",
        exit::NOPERM => "EX_NOPERM",
        exit::CONFIG => "EX_CONFIG",
        _ => "EX_SOFTWARE",
    }
}

/// msmtp quotes free text in single quotes; the text is escaped (no
/// control characters reach the log) and a quote inside is dropped.
fn quoted(text: &str) -> String {
    let escaped = smtpkit_proto::escape_text(text).replace('\'', "");
    format!("'{escaped}'")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// msmtp's default time format `%b %d %H:%M:%S`, in UTC.
pub(crate) fn timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let month_name = MONTHS.get((month - 1) as usize).copied().unwrap_or("???");
    format!(
        "{month_name} {day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Entry<'_> {
    /// The line, without the time stamp.
    pub(crate) fn line(&self) -> String {
        let on = |b: bool| if b { "on" } else { "off" };
        let mut line = format!(
            "host={} tls={} auth={}",
            self.host,
            on(self.tls),
            on(self.auth)
        );
        if let (true, Some(user)) = (self.auth, self.user) {
            line.push_str(&format!(" user={user}"));
        }
        line.push_str(&format!(
            " from={} recipients={}",
            self.from,
            self.recipients.join(",")
        ));
        if let Some(size) = self.size {
            line.push_str(&format!(" mailsize={size}"));
        }
        // As msmtp: the last reply's code and text, on success too
        // (`smtpmsg='250 2.0.0 Ok: queued as …'`).
        if let Some(reply) = self.reply {
            line.push_str(&format!(" smtpstatus={}", reply.code()));
            line.push_str(&format!(
                " smtpmsg={}",
                quoted(&format!("{} {}", reply.code(), reply.message()))
            ));
        }
        if let Some(error) = self.error {
            line.push_str(&format!(" errormsg={}", quoted(error)));
        }
        line.push_str(&format!(" exitcode={}", exit_name(self.code)));
        line
    }
}

/// Appends the entry to `path` (`-`: standard output). A log that cannot
/// be written is a warning: the message's outcome does not change.
pub(crate) fn write(path: &Path, entry: &Entry<'_>) {
    let line = format!("{} {}\n", timestamp(SystemTime::now()), entry.line());
    let result = if path == Path::new("-") {
        std::io::stdout().write_all(line.as_bytes())
    } else {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
    };
    if let Err(e) = result {
        eprintln!("smtp-send: warning: log {}: {e}", path.display());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_764_594_061);
        assert_eq!(timestamp(t), "Dec 01 13:01:01");
        assert_eq!(timestamp(UNIX_EPOCH), "Jan 01 00:00:00");
    }

    #[test]
    fn lines() {
        let code = smtpkit_proto::ReplyCode::new(550).unwrap();
        let reply = smtpkit_proto::Reply::single(code, None, "no 'such' user").unwrap();
        let recipients = vec!["a@x".to_owned(), "b@x".to_owned()];
        let e = Entry {
            host: "mx",
            tls: true,
            auth: true,
            user: Some("me"),
            from: "me@x",
            recipients: &recipients,
            size: None,
            reply: Some(&reply),
            error: None,
            code: exit::NOUSER,
        };
        assert_eq!(
            e.line(),
            "host=mx tls=on auth=on user=me from=me@x recipients=a@x,b@x smtpstatus=550 \
             smtpmsg='550 no such user' exitcode=EX_NOUSER"
        );
    }
}
