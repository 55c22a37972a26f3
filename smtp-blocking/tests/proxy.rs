//! Connecting through SOCKS5 and HTTP CONNECT proxies (smtp-testkit's test
//! proxies): remote DNS, credentials, and refusals as clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use smtp_blocking::{Body, Client, ClientSettings, Error, Protocol};
use smtp_client::{ProxyKind, ProxySettings};
use smtp_proto::proxy::ProxyError;
use smtp_proto::{Address, Envelope};
use smtp_testkit::{ProxyProtocol, Script, TestProxy, TestServer};

/// The proxies resolve the invented name `mx.test.invalid` to the server.
fn resolver(
    server: SocketAddr,
) -> impl Fn(&str, u16) -> Option<SocketAddr> + Send + Sync + 'static {
    move |host, port| (host == "mx.test.invalid" && port == 25).then_some(server)
}

fn settings() -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "mx.test.invalid");
    s.local_name = Some("client.example".parse().unwrap());
    s
}

fn send(s: &ClientSettings) -> Result<(), Error> {
    let mut client = Client::connect(s)?;
    let envelope = Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [Address::parse("b@example.org").unwrap()],
    );
    client.send(envelope, Body::Bytes(b"Subject: via proxy\r\n\r\nx\r\n"))?;
    client.close()
}

#[test]
fn socks5_without_and_with_credentials() {
    let server = TestServer::start(Script::new()).unwrap();
    // No authentication, configured by properties (mail.smtp.socks.*).
    let proxy = TestProxy::start(ProxyProtocol::Socks5, None, resolver(server.addr())).unwrap();
    let mut s = settings();
    s.set("mail.smtp.socks.host", "127.0.0.1").unwrap();
    s.set("mail.smtp.socks.port", &proxy.addr().port().to_string())
        .unwrap();
    send(&s).unwrap();
    // The name went to the proxy: remote DNS.
    assert_eq!(proxy.targets(), ["mx.test.invalid:25"]);

    let proxy = TestProxy::start(
        ProxyProtocol::Socks5,
        Some(("bob", "s0cks")),
        resolver(server.addr()),
    )
    .unwrap();
    let mut with = ProxySettings::new(ProxyKind::Socks5, "127.0.0.1", proxy.addr().port());
    with.user = Some("bob".into());
    with.password = Some("s0cks".into());
    let mut s = settings();
    s.proxy = Some(with.clone());
    send(&s).unwrap();
    assert_eq!(server.transactions().len(), 2);

    with.password = Some("wrong".into());
    s.proxy = Some(with);
    assert!(matches!(
        send(&s),
        Err(Error::Proxy(ProxyError::AuthenticationFailed))
    ));
    s.proxy.as_mut().unwrap().user = None;
    assert!(matches!(
        send(&s),
        Err(Error::Proxy(ProxyError::NoAcceptableMethod))
    ));
}

#[test]
fn http_connect_with_basic_auth() {
    let server = TestServer::start(Script::new()).unwrap();
    let proxy = TestProxy::start(
        ProxyProtocol::HttpConnect,
        Some(("alice", "h77p")),
        resolver(server.addr()),
    )
    .unwrap();
    let mut s = settings();
    s.set("mail.smtp.proxy.host", "127.0.0.1").unwrap();
    s.set("mail.smtp.proxy.port", &proxy.addr().port().to_string())
        .unwrap();
    s.set("mail.smtp.proxy.user", "alice").unwrap();
    s.set("mail.smtp.proxy.password", "h77p").unwrap();
    send(&s).unwrap();
    assert_eq!(proxy.targets(), ["mx.test.invalid:25"]);
    s.set("mail.smtp.proxy.password", "nope").unwrap();
    assert!(matches!(
        send(&s),
        Err(Error::Proxy(ProxyError::HttpStatus { status: 407, .. }))
    ));
}

#[test]
fn proxy_cannot_reach_the_target() {
    let proxy = TestProxy::start(ProxyProtocol::Socks5, None, |_, _| None).unwrap();
    let mut s = settings();
    s.proxy = Some(ProxySettings::new(
        ProxyKind::Socks5,
        "127.0.0.1",
        proxy.addr().port(),
    ));
    assert!(matches!(
        send(&s),
        Err(Error::Proxy(ProxyError::ConnectFailed {
            code: 4,
            message: "host unreachable"
        }))
    ));
}
