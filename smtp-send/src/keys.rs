//! The keys the user gives (`--properties`, `-o`), checked against the
//! library's table: a key under one of our prefixes that names no setting
//! is an error naming the closest key (a misspelt key must not pass
//! silently: `mail.smtp.startls.enable=true` would leave STARTTLS as it
//! was).

use smtpkit_blocking::{ClientSettings, Protocol};

/// The prefixes of SMTP settings: JavaMail's SMTP provider's (`mail.smtp.`,
/// `mail.smtps.`) and LMTP's. Other `mail.*` keys (`mail.from`,
/// `mail.user`, `mail.host`, `mail.debug`, `mail.mime.*`,
/// `mail.transport.protocol`, ...) belong to other parts of JavaMail and
/// are ignored, as JavaMail's SMTP provider ignores them.
const PREFIXES: &[&str] = &["mail.smtp.", "mail.smtps.", "mail.lmtp."];

/// `Err`: the key is under one of [`PREFIXES`] and names no setting; the
/// message names the closest known key when one is close enough.
pub(crate) fn check(key: &str) -> Result<(), String> {
    let Some((prefix, name)) = PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p).map(|name| (*p, name)))
    else {
        return Ok(());
    };
    if is_known(name) {
        return Ok(());
    }
    Err(match closest(name) {
        Some(known) => format!("unknown key {key} (did you mean {prefix}{known}?)"),
        None => format!("unknown key {key}"),
    })
}

/// Whether `ClientSettings::set` knows the name (after the prefix): asked
/// of the library itself, on settings thrown away, so that its table
/// (`smtpkit_client::KEYS`) and the keys it matches by pattern
/// (`auth.<mech>.disable`) are the one answer.
fn is_known(name: &str) -> bool {
    let mut scratch = ClientSettings::new(Protocol::Smtp, "localhost");
    // A value the key refuses is an error of a known key: only whether
    // the key was recorded as unknown matters here.
    let _ = scratch.set(&format!("mail.smtp.{name}"), "");
    scratch.unknown_keys.is_empty()
}

/// The known name closest to `name` (case aside), when it is at most 3
/// edits away and at most a third of the name's length (at least 1): `foo`
/// suggests nothing, `startls.enable` suggests `starttls.enable`.
fn closest(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let limit = (lower.chars().count() / 3).clamp(1, 3);
    candidates(name)
        .into_iter()
        .map(|known| (distance(&lower, &known.to_ascii_lowercase()), known))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

/// Every name in the library's table; and, for a name shaped
/// `auth.X.Y`, the pattern key `auth.X.disable`.
fn candidates(name: &str) -> Vec<String> {
    let mut names: Vec<String> = smtpkit_client::KEYS
        .iter()
        .map(|k| k.name.to_owned())
        .collect();
    let parts: Vec<&str> = name.split('.').collect();
    if let ["auth", mechanism, _] = parts.as_slice() {
        names.push(format!("auth.{mechanism}.disable"));
    }
    names
}

/// The optimal string alignment distance: insertions, deletions,
/// substitutions, and swaps of two neighbours (`prot` for `port` is one
/// edit, as a typist makes it), each one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the edit table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let substitution = previous[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            row[j] = substitution.min(previous[j] + 1).min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut previous, row);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("port", ""), 4);
        assert_eq!(distance("", "port"), 4);
        assert_eq!(distance("port", "port"), 0);
        assert_eq!(distance("prot", "port"), 1, "a swap is one edit");
        assert_eq!(distance("startls.enable", "starttls.enable"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ca", "abc"), 3, "OSA, not full Damerau");
    }

    #[test]
    fn misspelt_keys_name_the_closest() {
        assert_eq!(
            check("mail.smtp.startls.enable"),
            Err(
                "unknown key mail.smtp.startls.enable (did you mean mail.smtp.starttls.enable?)"
                    .into()
            )
        );
        assert_eq!(
            check("mail.smtp.hots"),
            Err("unknown key mail.smtp.hots (did you mean mail.smtp.host?)".into())
        );
        assert_eq!(
            check("mail.smtp.StartTLS.Enable"),
            Err(
                "unknown key mail.smtp.StartTLS.Enable (did you mean mail.smtp.starttls.enable?)"
                    .into()
            ),
            "case aside"
        );
        assert_eq!(
            check("mail.smtps.sendpartail"),
            Err("unknown key mail.smtps.sendpartail (did you mean mail.smtps.sendpartial?)".into()),
            "the user's prefix"
        );
        assert_eq!(
            check("mail.smtp.auth.xoauth2.disabel"),
            Err(
                "unknown key mail.smtp.auth.xoauth2.disabel (did you mean mail.smtp.auth.xoauth2.disable?)"
                    .into()
            )
        );
        // Nothing close: no guess.
        assert_eq!(
            check("mail.smtp.foo"),
            Err("unknown key mail.smtp.foo".into())
        );
        assert_eq!(
            check("mail.lmtp.colour"),
            Err("unknown key mail.lmtp.colour".into())
        );
    }

    #[test]
    fn known_and_foreign_keys_pass() {
        for key in [
            "mail.smtp.host",
            "mail.smtp.starttls.enable",
            "mail.smtp.socketFactory.class",
            "mail.smtp.auth.xoauth2.disable",
            "mail.smtps.host",
            "mail.lmtp.port",
            // Not SMTP settings.
            "mail.from",
            "mail.user",
            "mail.host",
            "mail.debug",
            "mail.mime.allowutf8",
            "mail.transport.protocol",
            "mail.smtpx.host",
            "colour",
        ] {
            assert_eq!(check(key), Ok(()), "{key}");
        }
        for key in smtpkit_client::KEYS {
            assert_eq!(check(&format!("mail.smtp.{}", key.name)), Ok(()));
        }
    }
}
