//! OAuth 2.0 against servers nobody here wrote: oidc-provider (a certified
//! OpenID Connect server, npm) issues short-lived access tokens, and
//! Dovecot's submission service checks every token it is given by
//! introspecting it at that provider (`scripts/oauth2-instance.sh`,
//! `interop/oauth2/README.md`). Every adapter expands
//! [`oauth2_interop_suite!`](crate::oauth2_interop_suite).
//!
//! `scripts/oauth2-check.sh` starts the instance and exports its
//! `DIR/env` (`OAUTH2_*`); without it each test says on stderr that it
//! was skipped, unless `SMTP_INTEROP_REQUIRED=1`. The tests toggle the
//! instance's `refuse-all` switch: run them one at a time
//! (`--test-threads=1`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use smtpkit_client::exports::oauth2::{
    AccessToken, ClientAuth, Grant, OAuth2Client, Secret, ServiceAccount, SigningKey, TokenCache,
    TokenEndpoint, TokenError, TokenSource,
};
use smtpkit_client::{ClientSettings, Error, PoolConfig};
use smtpkit_proto::{AuthError, ErrorClass, SessionError};

use crate::conformance::{Adapter, TestBody, pool_send_until, recorder};

/// The instance's `OAUTH2_*` variable, or `None` (skip) when it is not
/// running.
fn var(name: &str) -> Option<String> {
    std::env::var(format!("OAUTH2_{name}")).ok()
}

fn required(name: &str) -> String {
    var(name).unwrap_or_else(|| panic!("OAUTH2_{name} is not set"))
}

/// Whether the instance runs; says so on stderr when the test is skipped.
fn running(test: &str) -> bool {
    if var("TOKEN_URL").is_some() {
        return true;
    }
    assert!(
        std::env::var("SMTP_INTEROP_REQUIRED").as_deref() != Ok("1"),
        "{test}: the OAuth 2.0 instance is not running (scripts/oauth2-check.sh)"
    );
    eprintln!("{test}: skipped: no OAuth 2.0 instance (scripts/oauth2-check.sh starts one)");
    false
}

fn read(name: &str) -> Vec<u8> {
    let path = required(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn secret(name: &str) -> Secret {
    Secret::new(String::from_utf8_lossy(&read(name)).trim().to_owned())
}

fn endpoint() -> TokenEndpoint {
    TokenEndpoint::new(required("TOKEN_URL")).with_ca_pem(read("CA_FILE"))
}

/// The grants the provider offers, each as a user would set it up.
fn grants() -> Vec<(&'static str, OAuth2Client)> {
    let scope = required("SCOPE");
    let refresh_token = Grant::RefreshToken(secret("REFRESH_TOKEN_FILE"));
    let refresh = |auth| {
        OAuth2Client::new(
            endpoint(),
            Some(required("REFRESH_CLIENT_ID")),
            auth,
            refresh_token.clone(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let app = |auth, id: &str| {
        OAuth2Client::new(
            endpoint(),
            Some(required(id)),
            auth,
            Grant::ClientCredentials,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .with_scope(scope.clone())
    };
    let key = SigningKey::from_pem(&read("APP_JWT_KEY_FILE"))
        .unwrap_or_else(|e| panic!("{e}"))
        .with_key_id(required("APP_JWT_KID"));
    let account =
        ServiceAccount::from_json(&read("SERVICE_ACCOUNT_FILE")).unwrap_or_else(|e| panic!("{e}"));
    let service = OAuth2Client::service_account(&account, scope.clone())
        .and_then(|c| c.with_endpoint(endpoint()))
        .unwrap_or_else(|e| panic!("{e}"));
    vec![
        (
            "refresh_token, client_secret_basic",
            refresh(ClientAuth::Secret(secret("REFRESH_CLIENT_SECRET_FILE"))),
        ),
        (
            "refresh_token, client_secret_post",
            refresh(ClientAuth::SecretInForm(secret(
                "REFRESH_CLIENT_SECRET_FILE",
            ))),
        ),
        (
            "client_credentials, client_secret_basic",
            app(
                ClientAuth::Secret(secret("APP_CLIENT_SECRET_FILE")),
                "APP_CLIENT_ID",
            ),
        ),
        (
            "client_credentials, private_key_jwt",
            app(
                ClientAuth::PrivateKeyJwt(Arc::new(key)),
                "APP_JWT_CLIENT_ID",
            ),
        ),
        ("jwt-bearer service account", service),
    ]
}

/// Settings for Dovecot's submission service (no TLS on loopback: the
/// token goes in the clear, allowed by name) with `tokens`.
fn settings(tokens: TokenCache) -> ClientSettings {
    let mut s = ClientSettings::dangerous_plaintext(required("SUBMISSION_HOST"));
    s.port = Some(
        required("SUBMISSION_PORT")
            .parse()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    s.auth.allow_plaintext = true;
    s.auth.login_with_tokens(required("USER"), tokens);
    s
}

fn envelope() -> smtpkit_proto::Envelope {
    let address = |a: &str| smtpkit_proto::Address::parse(a).unwrap_or_else(|e| panic!("{e}"));
    smtpkit_proto::Envelope::new(address("sender@example.org"), [address("rcpt@example.org")])
}

fn message(tag: &str) -> Vec<u8> {
    format!(
        "From: <sender@example.org>\r\nTo: <rcpt@example.org>\r\nSubject: oauth2 {tag}\r\n\
         Message-ID: <{tag}@oauth2.test>\r\n\r\nsent with an access token\r\n"
    )
    .into_bytes()
}

/// The relayed messages whose Message-ID starts with `prefix`.
fn relayed(prefix: &str) -> usize {
    let dir = PathBuf::from(required("RELAY_DIR"));
    let needle = format!("Message-ID: <{prefix}");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|f| {
            std::fs::read_to_string(f.path())
                .map(|text| text.contains(&needle))
                .unwrap_or(false)
        })
        .count()
}

/// The provider's own count of successful token requests by `client_id`.
fn provider_grants(client_id: &str) -> usize {
    let log = std::fs::read_to_string(required("TOKEN_LOG")).unwrap_or_default();
    let client = format!("\"client_id\":\"{client_id}\"");
    log.lines()
        .filter(|l| l.contains(&client) && l.contains("\"outcome\":\"success\""))
        .count()
}

/// While it lives, the provider reports every token inactive, so Dovecot
/// refuses even fresh ones.
struct RefuseAll(PathBuf);

impl RefuseAll {
    fn on() -> RefuseAll {
        let path = PathBuf::from(required("REFUSE_ALL_FILE"));
        std::fs::write(&path, b"").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        RefuseAll(path)
    }
}

impl Drop for RefuseAll {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Revokes `token` at the provider's RFC 7009 endpoint with `curl` (a
/// client nobody here wrote), as the issuing client `smtp-app`.
fn revoke(token: &AccessToken) {
    let credentials = format!(
        "{}:{}",
        required("APP_CLIENT_ID"),
        secret("APP_CLIENT_SECRET_FILE").expose()
    );
    let status = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--cacert", &required("CA_FILE"), "-u"])
        .arg(credentials)
        .arg("--data-urlencode")
        .arg(format!("token={}", token.secret().expose()))
        .arg(required("REVOCATION_URL"))
        .status()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    assert!(status.success(), "revocation failed: {status}");
}

/// A source that remembers when it was asked.
#[derive(Debug)]
struct Timed {
    inner: OAuth2Client,
    at: Arc<Mutex<Vec<Instant>>>,
}

impl TokenSource for Timed {
    fn fetch(&self) -> Result<AccessToken, TokenError> {
        self.at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Instant::now());
        self.inner.fetch()
    }
}

/// Every built-in grant gets a token the provider issues and Dovecot
/// accepts, by XOAUTH2 and by OAUTHBEARER; the message is relayed.
pub fn every_grant_authenticates<A: Adapter>() {
    if !running("every_grant_authenticates") {
        return;
    }
    let name = A::NAME;
    for (grant, client) in grants() {
        let tokens = TokenCache::new(client);
        for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
            let mut s = settings(tokens.clone());
            s.auth.mechanisms = Some(mechanism.into());
            let tag = format!(
                "grant-{name}-{mechanism}-{}",
                grant.replace([' ', ','], "_")
            );
            let mut connection =
                A::connect(&s, None).unwrap_or_else(|e| panic!("{name} {grant} {mechanism}: {e}"));
            connection
                .send(envelope(), TestBody::Bytes(message(&tag)))
                .unwrap_or_else(|e| panic!("{name} {grant} {mechanism}: {e}"));
            let _ = connection.close();
            assert_eq!(relayed(&tag), 1, "{name} {grant} {mechanism}");
        }
        // One token served both mechanisms' connections.
        assert_eq!(tokens.requests(), 1, "{name} {grant}");
    }
}

/// A token revoked at the provider: the next connection is refused once,
/// fetches one new token and authenticates (exactly one re-authentication);
/// when the provider refuses every token, the second refusal is the typed,
/// final error, after exactly two connections.
pub fn revoked_token_reauthenticates_once<A: Adapter>() {
    if !running("revoked_token_reauthenticates_once") {
        return;
    }
    let name = A::NAME;
    for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
        // Client credentials: revoking a refresh-token grant's access
        // token would revoke the refresh token with it.
        let tokens = TokenCache::new(app_client());
        let mut s = settings(tokens.clone());
        s.auth.mechanisms = Some(mechanism.into());
        let first = tokens.token_blocking().unwrap_or_else(|e| panic!("{e}"));
        revoke(&first);
        let (hook, seen) = recorder();
        let tag = format!("revoked-{name}-{mechanism}");
        let mut connection =
            A::connect(&s, Some(hook)).unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        connection
            .send(envelope(), TestBody::Bytes(message(&tag)))
            .unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        let _ = connection.close();
        let auths = auth_lines(&seen, mechanism);
        assert_eq!(auths, 2, "{name} {mechanism}: one re-authentication");
        assert_eq!(tokens.requests(), 2, "{name} {mechanism}");
        assert_eq!(relayed(&tag), 1, "{name} {mechanism}");
        let transcript = seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n");
        assert!(
            !transcript.contains(first.secret().expose()),
            "{name}: the token reached the transcript"
        );

        // Every token refused: one retry, then the final, typed error.
        let refuse = RefuseAll::on();
        let (hook, seen) = recorder();
        let error = match A::connect(&s, Some(hook)) {
            Ok(_) => panic!("{name} {mechanism}: connected while every token is refused"),
            Err(failure) => failure.error,
        };
        drop(refuse);
        match &error {
            Error::Session(SessionError::Auth(AuthError::TokenRefused {
                mechanism: m,
                reply,
                error: Some(bearer),
            })) => {
                assert_eq!((m.as_str(), reply.code().get()), (mechanism, 535), "{name}");
                assert!(bearer.is_invalid_token(), "{name}: {bearer}");
            }
            other => panic!("{name} {mechanism}: {other:?}"),
        }
        assert_eq!(error.class(), ErrorClass::Configuration, "{name}");
        assert_eq!(auth_lines(&seen, mechanism), 2, "{name} {mechanism}");
        assert_eq!(tokens.requests(), 3, "{name} {mechanism}");
    }
}

/// The client-credentials client with a secret.
fn app_client() -> OAuth2Client {
    OAuth2Client::new(
        endpoint(),
        Some(required("APP_CLIENT_ID")),
        ClientAuth::Secret(secret("APP_CLIENT_SECRET_FILE")),
        Grant::ClientCredentials,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .with_scope(required("SCOPE"))
}

fn auth_lines(seen: &Mutex<Vec<String>>, mechanism: &str) -> usize {
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|l| l.starts_with(&format!("C: AUTH {mechanism}")))
        .count()
}

/// A pool sends for four token lifetimes: every message delivered, the
/// token renewed once per lifetime and never earlier than the renewal
/// margin allows (the provider's log agrees with the cache's count). The
/// counts go to stderr for the notes.
pub fn pool_outlives_token_lifetimes<A: Adapter>() {
    if !running("pool_outlives_token_lifetimes") {
        return;
    }
    let name = A::NAME;
    let ttl = Duration::from_secs(required("TTL").parse().unwrap_or_else(|e| panic!("{e}")));
    let at = Arc::new(Mutex::new(Vec::new()));
    let source = Timed {
        inner: OAuth2Client::new(
            endpoint(),
            Some(required("REFRESH_CLIENT_ID")),
            ClientAuth::Secret(secret("REFRESH_CLIENT_SECRET_FILE")),
            Grant::RefreshToken(secret("REFRESH_TOKEN_FILE")),
        )
        .unwrap_or_else(|e| panic!("{e}")),
        at: Arc::clone(&at),
    };
    let tokens = TokenCache::new(source);
    let s = settings(tokens.clone());
    let mut config = PoolConfig::default();
    // Short-lived connections, so that new ones keep authenticating.
    config.max_connections = 4;
    config.max_messages_per_connection = 5;
    let before = provider_grants(&required("REFRESH_CLIENT_ID"));
    let prefix = format!("pool-{name}-{}", std::process::id());
    let started = Instant::now();
    let run = ttl * 4;
    let results = pool_send_until::<A>(&s, config, 8, started + run, &|i| {
        TestBody::Bytes(message(&format!("{prefix}-{i}")))
    });
    let elapsed = started.elapsed();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    let sent = results.len();
    let delivered = relayed(&prefix);
    let requests = tokens.requests();
    let provider = provider_grants(&required("REFRESH_CLIENT_ID")) - before;
    let times = at.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let min_gap = gaps.iter().min().copied().unwrap_or_default();
    let max_gap = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{name}: pool for {elapsed:.1?} (token lifetime {ttl:?}): {sent} messages, {} failed, \
         {delivered} relayed; token requests {requests} (provider's log: {provider}), \
         renewals every {min_gap:.2?} to {max_gap:.2?}",
        failed.len()
    );
    assert!(failed.is_empty(), "{name}: {failed:?}");
    assert_eq!(delivered, sent, "{name}: every message relayed once");
    assert_eq!(
        provider, requests as usize,
        "{name}: no request the cache did not count"
    );
    assert!(
        requests >= 4,
        "{name}: {requests} token requests over {elapsed:?} with {ttl:?} tokens"
    );
    // One request per lifetime: never before the renewal point (a tenth
    // of the lifetime before expiry), and never long after it while
    // connections keep being made.
    let renew_after = ttl - ttl / 10;
    assert!(
        min_gap + Duration::from_millis(50) >= renew_after,
        "{name}: a token renewed after {min_gap:?}, before its renewal point {renew_after:?}"
    );
    assert!(
        max_gap <= ttl + Duration::from_secs(2),
        "{name}: {max_gap:?} between renewals"
    );
}

/// A token revoked while a pool sends: every message still delivered, and
/// the revocation costs exactly one extra token request, however many
/// connections found the token refused (each retries once, and they share
/// the one renewal).
pub fn pool_survives_a_revoked_token<A: Adapter>() {
    if !running("pool_survives_a_revoked_token") {
        return;
    }
    let name = A::NAME;
    let ttl = Duration::from_secs(required("TTL").parse().unwrap_or_else(|e| panic!("{e}")));
    let at = Arc::new(Mutex::new(Vec::new()));
    let tokens = TokenCache::new(Timed {
        inner: app_client(),
        at: Arc::clone(&at),
    });
    let s = settings(tokens.clone());
    let mut config = PoolConfig::default();
    config.max_connections = 4;
    config.max_messages_per_connection = 5;
    let prefix = format!("revoked-pool-{name}-{}", std::process::id());
    let started = Instant::now();
    let revoker = {
        let tokens = tokens.clone();
        std::thread::spawn(move || {
            std::thread::sleep(ttl / 2);
            let token = tokens.token_blocking().unwrap_or_else(|e| panic!("{e}"));
            revoke(&token);
        })
    };
    let results = pool_send_until::<A>(&s, config, 8, started + ttl * 2, &|i| {
        TestBody::Bytes(message(&format!("{prefix}-{i}")))
    });
    revoker
        .join()
        .unwrap_or_else(|_| panic!("the revoking thread failed"));
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    let times = at.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let renew_after = ttl - ttl / 10;
    let early = times
        .windows(2)
        .filter(|w| w[1] - w[0] + Duration::from_millis(50) < renew_after)
        .count();
    eprintln!(
        "{name}: a token revoked {:?} into a {:.1?} pool run: {} messages, {} failed, token requests {} ({early} before a renewal point)",
        ttl / 2,
        started.elapsed(),
        results.len(),
        failed.len(),
        times.len()
    );
    assert!(failed.is_empty(), "{name}: {failed:?}");
    assert_eq!(relayed(&prefix), results.len(), "{name}");
    assert_eq!(
        early, 1,
        "{name}: the revocation cost one request: {times:?}"
    );
}

/// The OAuth 2.0 interop tests for one adapter.
#[macro_export]
macro_rules! oauth2_interop_suite {
    ($adapter:ty) => {
        #[test]
        fn oauth2_every_grant_authenticates() {
            $crate::oauth2::every_grant_authenticates::<$adapter>();
        }
        #[test]
        fn oauth2_pool_survives_a_revoked_token() {
            $crate::oauth2::pool_survives_a_revoked_token::<$adapter>();
        }
        #[test]
        fn oauth2_revoked_token_reauthenticates_once() {
            $crate::oauth2::revoked_token_reauthenticates_once::<$adapter>();
        }
        #[test]
        fn oauth2_pool_outlives_token_lifetimes() {
            $crate::oauth2::pool_outlives_token_lifetimes::<$adapter>();
        }
    };
}
