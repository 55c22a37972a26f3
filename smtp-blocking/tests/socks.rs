//! Delivering to a real Postfix through real SOCKS5 servers: microsocks
//! (without authentication, and with user/password) and dante.
//!
//! `scripts/interop.sh` starts a private instance
//! (`scripts/postfix-instance.sh`) and sets:
//! - `SMTP_INTEROP_SOCKS`: host:port of microsocks without authentication;
//! - `SMTP_INTEROP_SOCKS_AUTH`: host:port of microsocks that requires user
//!   `proxyuser`, password `proxypass` (RFC 1929);
//! - `SMTP_INTEROP_SOCKS_LOG`: the first microsocks' log, where it names
//!   each target it connected to (the host name the client sent: remote
//!   DNS);
//! - `SMTP_INTEROP_DANTE` (only when dante runs): host:port of dante
//!   without authentication;
//! - `SMTP_INTEROP_POSTFIX`: host:port of the plain Postfix smtpd, and
//!   `SMTP_INTEROP_DELIVERED`, the directory it delivers into,
//!   `<recipient>/<unique-name>` per message;
//! - `SMTP_INTEROP_STARTTLS` and `SMTP_INTEROP_TLS_DIR`: the STARTTLS
//!   listener and the directory with the CA (`ca.pem`) of its certificate
//!   for `localhost`.
//!
//! The client asks the proxy for `localhost` at the port of the Postfix
//! listener: the proxy resolves the name.
//!
//! Without them each test says on stderr that it was skipped, unless
//! `SMTP_INTEROP_REQUIRED=1`, which makes it fail. The dante test is
//! skipped whenever `SMTP_INTEROP_DANTE` is unset (dante is optional).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_blocking::{Body, Client, ClientSettings, Error, Protocol};
use smtp_proto::properties::{ProxyKind, ProxySettings};
use smtp_proto::proxy::ProxyError;
use smtp_proto::{Address, Envelope};

const PROXY_USER: &str = "proxyuser";
const PROXY_PASSWORD: &str = "proxypass";

/// The environment variables named, or `None` (skipped) when one is unset.
fn interop_vars<const N: usize>(test: &str, names: [&str; N]) -> Option<[String; N]> {
    let values = names.map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    if values.iter().all(Option::is_some) {
        return Some(values.map(Option::unwrap));
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    assert!(
        std::env::var("SMTP_INTEROP_REQUIRED").as_deref() != Ok("1"),
        "{test}: SMTP_INTEROP_REQUIRED=1 but {missing:?} not set (run scripts/interop.sh)"
    );
    eprintln!("skipped {test}: {missing:?} not set (scripts/interop.sh sets them)");
    None
}

fn split(host_port: &str) -> (&str, u16) {
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    (host, port.parse().expect("port"))
}

/// `localhost` at the port of `target` (host:port), no proxy yet.
fn settings(target: &str) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "localhost");
    s.set("mail.smtp.port", &split(target).1.to_string())
        .unwrap();
    s.local_name = Some("client.example".parse().unwrap());
    s
}

/// A recipient no other test or run uses.
fn unique_recipient(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}.{}.{nanos}@example.org", std::process::id())
}

/// Waits for the one file delivered to `recipient` and returns its bytes.
fn wait_delivered(dir: &Path, recipient: &str) -> Vec<u8> {
    let mailbox = dir.join(recipient);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(&mailbox)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        match files.as_slice() {
            [] => {}
            [one] => return std::fs::read(one).unwrap(),
            more => panic!("{recipient}: {} deliveries: {more:?}", more.len()),
        }
        assert!(
            Instant::now() < deadline,
            "nothing delivered to {} within 30 s; see maillog beside it",
            mailbox.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Connects with `s` and sends one message; the error as it comes.
fn try_send(s: &ClientSettings, recipient: &str, body: &str) -> Result<Client, Error> {
    let mut client = Client::connect(s)?;
    let envelope = Envelope::new(
        Address::parse("sender@client.example").unwrap(),
        [Address::parse(recipient).unwrap()],
    );
    let report = client.send(envelope, Body::Bytes(body.as_bytes()))?;
    assert!(report.all_delivered(), "{report:?}");
    Ok(client)
}

/// Sends one message with `s` and checks the delivered bytes: Postfix's
/// Received: header (with `with ESMTPS` when `tls`), then the message with
/// LF line endings. Returns the client, still connected.
fn deliver_and_check(what: &str, s: &ClientSettings, delivered: &str, tls: bool) -> Client {
    let started = Instant::now();
    let tag: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let recipient = unique_recipient(&tag);
    let body = format!(
        "From: <sender@client.example>\r\nTo: <{recipient}>\r\n\
         Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
         Message-ID: <{tag}@client.example>\r\n\
         Subject: {what}\r\n\r\nthrough the proxy\r\n.leading dot\r\n.\r\n"
    );
    let client = try_send(s, &recipient, &body).unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"));
    let file = wait_delivered(Path::new(delivered), &recipient);
    let text = String::from_utf8(file).unwrap();
    let (received, rest) = text
        .split_once("\nFrom: ")
        .unwrap_or_else(|| panic!("{what}: {text}"));
    assert!(
        received.starts_with("Received: from client.example (")
            && received.contains(&format!("for <{recipient}>")),
        "{what}: {received}"
    );
    let with = if tls {
        " with ESMTPS id "
    } else {
        " with ESMTP id "
    };
    assert!(received.contains(with), "{what}: {received}");
    assert_eq!(
        format!("From: {rest}"),
        body.replace("\r\n", "\n"),
        "{what}"
    );
    eprintln!("{what}: delivered in {:?}", started.elapsed());
    client
}

/// microsocks without authentication, configured by properties.
#[test]
fn microsocks_without_auth() {
    let Some([proxy, postfix, delivered]) = interop_vars(
        "microsocks_without_auth",
        [
            "SMTP_INTEROP_SOCKS",
            "SMTP_INTEROP_POSTFIX",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut s = settings(&postfix);
    s.set("mail.smtp.socks.host", proxy_host).unwrap();
    s.set("mail.smtp.socks.port", &proxy_port.to_string())
        .unwrap();
    // Remote DNS: microsocks logs one more connection to the name (not an
    // address). No other test sends it there.
    let log = std::env::var("SMTP_INTEROP_SOCKS_LOG")
        .ok()
        .filter(|v| !v.is_empty());
    let expected = format!("connected to localhost:{}\n", split(&postfix).1);
    let logged = || {
        log.as_ref().map_or(0, |log| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches(&expected)
                .count()
        })
    };
    let before = logged();
    deliver_and_check("microsocks", &s, &delivered, false)
        .close()
        .unwrap();
    if let Some(log) = &log {
        let deadline = Instant::now() + Duration::from_secs(5);
        while logged() != before + 1 {
            assert!(
                Instant::now() < deadline,
                "{log} does not say {expected:?} once more ({before} before): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// microsocks with user/password (RFC 1929), set in code; a wrong password
/// and missing credentials are refused before any SMTP.
#[test]
fn microsocks_with_user_password() {
    let Some([proxy, postfix, delivered]) = interop_vars(
        "microsocks_with_user_password",
        [
            "SMTP_INTEROP_SOCKS_AUTH",
            "SMTP_INTEROP_POSTFIX",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut with = ProxySettings::new(ProxyKind::Socks5, proxy_host, proxy_port);
    with.user = Some(PROXY_USER.into());
    with.password = Some(PROXY_PASSWORD.into());
    let mut s = settings(&postfix);
    s.proxy = Some(with.clone());
    deliver_and_check("microsocks-auth", &s, &delivered, false)
        .close()
        .unwrap();

    let recipient = unique_recipient("microsocks-wrong-password");
    with.password = Some("proxypasS".into());
    s.proxy = Some(with.clone());
    match try_send(&s, &recipient, "Subject: x\r\n\r\nx\r\n") {
        Err(Error::Proxy(ProxyError::AuthenticationFailed)) => {}
        Err(other) => panic!("wrong password: {other} ({other:?})"),
        Ok(_) => panic!("wrong password: delivered"),
    }
    with.user = None;
    with.password = None;
    s.proxy = Some(with);
    match try_send(&s, &recipient, "Subject: x\r\n\r\nx\r\n") {
        Err(Error::Proxy(ProxyError::NoAcceptableMethod)) => {}
        Err(other) => panic!("no credentials: {other} ({other:?})"),
        Ok(_) => panic!("no credentials: delivered"),
    }
    // Give Postfix a moment: had anything gone through, it would show.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !Path::new(&delivered).join(&recipient).exists(),
        "delivered without proxy authentication"
    );
}

/// STARTTLS through the proxy: the certificate is checked against the
/// target's name (`localhost`), not the proxy's address.
#[test]
fn starttls_through_microsocks() {
    let Some([proxy, starttls, tls_dir, delivered]) = interop_vars(
        "starttls_through_microsocks",
        [
            "SMTP_INTEROP_SOCKS",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut s = settings(&starttls);
    s.proxy = Some(ProxySettings::new(
        ProxyKind::Socks5,
        proxy_host,
        proxy_port,
    ));
    s.set("mail.smtp.starttls.required", "true").unwrap();
    s.tls.ca_files = vec![Path::new(&tls_dir).join("ca.pem")];
    s.tls.only_extra_roots = true;
    let client = deliver_and_check("starttls-through-microsocks", &s, &delivered, true);
    let info = client.tls_info().unwrap();
    assert!(info.verified, "{info:?}");
    client.close().unwrap();
}

/// dante without authentication (optional: only when it runs here).
#[test]
fn dante_without_auth() {
    let Some(proxy) = std::env::var("SMTP_INTEROP_DANTE")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("skipped dante_without_auth: SMTP_INTEROP_DANTE not set (dante not running)");
        return;
    };
    let Some([postfix, delivered]) = interop_vars(
        "dante_without_auth",
        ["SMTP_INTEROP_POSTFIX", "SMTP_INTEROP_DELIVERED"],
    ) else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut s = settings(&postfix);
    s.proxy = Some(ProxySettings::new(
        ProxyKind::Socks5,
        proxy_host,
        proxy_port,
    ));
    deliver_and_check("dante", &s, &delivered, false)
        .close()
        .unwrap();
}
