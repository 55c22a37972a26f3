//! The built-in token sources: RFC 6749 grants at a token endpoint over
//! HTTPS.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use smtpkit_tls::RootSource;

use crate::jwt::SigningKey;
use crate::{AccessToken, Secret, TokenError, TokenSource};

/// The most a token endpoint's response may hold: a token response is a
/// few kilobytes, a JWT access token included.
const MAX_RESPONSE: u64 = 64 * 1024;

/// How long an assertion this crate signs is valid: five minutes for a
/// client's authentication, an hour (Google's limit) for a grant.
const CLIENT_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
const GRANT_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// A request's form: names and values (values may be secrets).
type Form = Vec<(&'static str, Secret)>;

/// The grant type of RFC 7523 §2.1 (Google service accounts).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The client assertion type of RFC 7523 §2.2 (`private_key_jwt`).
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Where tokens come from: the endpoint URL and how its certificate is
/// checked. HTTPS only, verified against the operating system's roots by
/// default (as smtpkit-tls's [`RootSource`]), plus any CA added. A proxy
/// named by the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`:
/// ureq's defaults) is used, as curl would.
#[derive(Clone)]
pub struct TokenEndpoint {
    url: String,
    roots: RootSource,
    extra_ca_pem: Vec<Vec<u8>>,
    timeout: Duration,
    allow_http: bool,
}

impl TokenEndpoint {
    /// The token endpoint at `url` (`https://…`).
    pub fn new(url: impl Into<String>) -> TokenEndpoint {
        TokenEndpoint {
            url: url.into(),
            roots: RootSource::default(),
            extra_ca_pem: Vec::new(),
            timeout: Duration::from_secs(30),
            allow_http: false,
        }
    }

    /// Trusts this CA too (PEM): a private authorization server.
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> TokenEndpoint {
        self.extra_ca_pem.push(pem.into());
        self
    }

    /// Which roots to trust besides the added CAs.
    pub fn with_roots(mut self, roots: RootSource) -> TokenEndpoint {
        self.roots = roots;
        self
    }

    /// The bound on a whole request, connection included (30 s by
    /// default).
    pub fn with_timeout(mut self, timeout: Duration) -> TokenEndpoint {
        self.timeout = timeout;
        self
    }

    /// Allows a plain `http://` URL: client secrets, refresh tokens and
    /// the tokens themselves then cross the network readable by anyone
    /// on the path. For a token endpoint on the same machine only.
    pub fn dangerous_allow_http(mut self) -> TokenEndpoint {
        self.allow_http = true;
        self
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL as errors, logs and `describe` show it: credentials in it
    /// (`https://user:secret@host/…`) are `[redacted]`.
    pub fn shown_url(&self) -> String {
        match self.url.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                match rest[..authority_end].rfind('@') {
                    Some(at) => format!("{scheme}://[redacted]{}", &rest[at..]),
                    None => self.url.clone(),
                }
            }
            None => self.url.clone(),
        }
    }

    fn agent(&self) -> Result<ureq::Agent, TokenError> {
        let https = self
            .url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let http = self
            .url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        if !(https || http && self.allow_http) {
            return Err(TokenError::Config(if http {
                format!(
                    "the token endpoint {} is not HTTPS: secrets would cross the network in \
                     the clear (TokenEndpoint::dangerous_allow_http allows it)",
                    smtpkit_proto::escape_text(&self.shown_url())
                )
            } else {
                format!(
                    "the token endpoint {} is not an https:// URL",
                    smtpkit_proto::escape_text(&self.shown_url())
                )
            }));
        }
        let provider = smtpkit_tls::crypto_provider()
            .map_err(|e| TokenError::Config(format!("TLS for the token endpoint: {e}")))?;
        let mut certs = Vec::new();
        let roots = match self.roots {
            #[cfg(feature = "platform-roots")]
            RootSource::Platform => {
                certs.extend(
                    smtpkit_tls::platform_root_certificates()
                        .iter()
                        .map(|c| ureq::tls::Certificate::from_der(c).to_owned()),
                );
                None
            }
            #[cfg(feature = "bundled-roots")]
            RootSource::Bundled if self.extra_ca_pem.is_empty() => {
                Some(ureq::tls::RootCerts::WebPki)
            }
            RootSource::None => None,
            other => {
                return Err(TokenError::Config(format!(
                    "the token endpoint cannot use the {other:?} roots in this build{}",
                    if self.extra_ca_pem.is_empty() {
                        ""
                    } else {
                        " together with an added CA"
                    }
                )));
            }
        };
        for pem in &self.extra_ca_pem {
            let parsed = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c.to_owned())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TokenError::Config(format!("the token endpoint's CA: {e}")))?;
            if parsed.is_empty() {
                return Err(TokenError::Config(
                    "the token endpoint's CA holds no certificate".into(),
                ));
            }
            certs.extend(parsed);
        }
        let roots = roots.unwrap_or_else(|| ureq::tls::RootCerts::Specific(Arc::new(certs)));
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(Arc::new(provider))
            .build();
        let config = ureq::Agent::config_builder()
            .https_only(!self.allow_http)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(self.timeout))
            .tls_config(tls)
            .build();
        Ok(config.into())
    }
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.shown_url())
            .field("roots", &self.roots)
            .field("extra_cas", &self.extra_ca_pem.len())
            .field("timeout", &self.timeout)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// How the client proves who it is to the token endpoint (RFC 6749 §2.3).
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// None: a public client, or a grant that needs none (Google's service
    /// accounts). The client id, if any, goes in the form.
    None,
    /// `client_secret_basic`: the id and secret in an `Authorization:
    /// Basic` header (what RFC 6749 servers must support).
    Secret(Secret),
    /// `client_secret_post`: the id and secret in the form (Google's and
    /// Microsoft's documented way).
    SecretInForm(Secret),
    /// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect): an assertion
    /// signed with the client's key (Microsoft Entra's certificate
    /// credentials: add the certificate with
    /// [`SigningKey::with_certificate`]).
    PrivateKeyJwt(Arc<SigningKey>),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "None",
            ClientAuth::Secret(_) => "Secret([redacted])",
            ClientAuth::SecretInForm(_) => "SecretInForm([redacted])",
            ClientAuth::PrivateKeyJwt(_) => "PrivateKeyJwt([redacted])",
        })
    }
}

/// What is exchanged for an access token.
#[derive(Clone)]
#[non_exhaustive]
pub enum Grant {
    /// `refresh_token` (RFC 6749 §6): a user's long-lived grant, as Google
    /// and Microsoft issue for delegated mail access. A rotated refresh
    /// token in the response replaces it for the next request (kept in
    /// memory; [`OAuth2Client::refresh_token`] gives it for storing).
    RefreshToken(Secret),
    /// `client_credentials` (RFC 6749 §4.4): the application's own token
    /// (Microsoft 365 app-only SMTP).
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): an
    /// assertion signed with the key of `issuer` (Google service
    /// accounts), for `subject` when it acts for a user (domain-wide
    /// delegation).
    JwtBearer {
        /// `iss`: the service account's e-mail address.
        issuer: String,
        /// `sub`: the user it acts for.
        subject: Option<String>,
        /// The key.
        key: Arc<SigningKey>,
    },
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::RefreshToken(_) => f.write_str("RefreshToken([redacted])"),
            Grant::ClientCredentials => f.write_str("ClientCredentials"),
            Grant::JwtBearer {
                issuer, subject, ..
            } => f
                .debug_struct("JwtBearer")
                .field("issuer", issuer)
                .field("subject", subject)
                .finish_non_exhaustive(),
        }
    }
}

impl Grant {
    fn name(&self) -> &'static str {
        match self {
            Grant::RefreshToken(_) => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
            Grant::JwtBearer { .. } => JWT_BEARER,
        }
    }
}

/// A Google service account's JSON key file (`"type":
/// "service_account"`): its e-mail address, key, key id and token URI.
#[derive(Clone)]
pub struct ServiceAccount {
    /// `client_email`.
    pub client_email: String,
    /// `token_uri`.
    pub token_uri: String,
    key: Arc<SigningKey>,
}

impl ServiceAccount {
    /// Reads the key file's JSON.
    ///
    /// # Errors
    /// [`TokenError::Config`] naming the missing or unusable field.
    pub fn from_json(json: &[u8]) -> Result<ServiceAccount, TokenError> {
        let value: Map<String, Value> = serde_json::from_slice(json).map_err(|e| {
            TokenError::Config(format!("the service account file is not JSON ({e})"))
        })?;
        let field = |name: &str| {
            value.get(name).and_then(Value::as_str).ok_or_else(|| {
                TokenError::Config(format!("the service account file has no {name}"))
            })
        };
        if field("type")? != "service_account" {
            return Err(TokenError::Config(
                "the key file's type is not service_account".into(),
            ));
        }
        let mut key = SigningKey::from_pem(field("private_key")?.as_bytes())?;
        if let Ok(id) = field("private_key_id") {
            key = key.with_key_id(id);
        }
        Ok(ServiceAccount {
            client_email: field("client_email")?.to_owned(),
            token_uri: field("token_uri")?.to_owned(),
            key: Arc::new(key),
        })
    }
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// A [`TokenSource`] that asks a token endpoint: one grant, one client.
/// Put it in a [`TokenCache`](crate::TokenCache).
pub struct OAuth2Client {
    endpoint: TokenEndpoint,
    agent: ureq::Agent,
    client_id: Option<String>,
    auth: ClientAuth,
    grant: Grant,
    scope: Option<String>,
    /// The refresh token in use (rotated ones replace it).
    refresh_token: Mutex<Option<Secret>>,
}

impl OAuth2Client {
    /// A client of `endpoint` with `grant`.
    ///
    /// # Errors
    /// [`TokenError::Config`]: a URL that is not HTTPS, an unusable CA,
    /// no client id where the authentication needs one.
    pub fn new(
        endpoint: TokenEndpoint,
        client_id: Option<String>,
        auth: ClientAuth,
        grant: Grant,
    ) -> Result<OAuth2Client, TokenError> {
        if client_id.is_none() && !matches!(auth, ClientAuth::None) {
            return Err(TokenError::Config(
                "client authentication needs a client id".into(),
            ));
        }
        let refresh_token = match &grant {
            Grant::RefreshToken(token) => Some(token.clone()),
            _ => None,
        };
        Ok(OAuth2Client {
            agent: endpoint.agent()?,
            endpoint,
            client_id,
            auth,
            grant,
            scope: None,
            refresh_token: Mutex::new(refresh_token),
        })
    }

    /// A Google service account's source: the JWT-bearer grant at its
    /// `token_uri`, no client authentication, for `scope` (for Gmail SMTP:
    /// `https://mail.google.com/`).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn service_account(
        account: &ServiceAccount,
        scope: impl Into<String>,
    ) -> Result<OAuth2Client, TokenError> {
        Ok(OAuth2Client::new(
            TokenEndpoint::new(account.token_uri.clone()),
            None,
            ClientAuth::None,
            Grant::JwtBearer {
                issuer: account.client_email.clone(),
                subject: None,
                key: Arc::clone(&account.key),
            },
        )?
        .with_scope(scope))
    }

    /// Asks for this scope (`scope`; for a JWT-bearer grant, the
    /// assertion's `scope` claim).
    pub fn with_scope(mut self, scope: impl Into<String>) -> OAuth2Client {
        self.scope = Some(scope.into());
        self
    }

    /// Replaces the endpoint (its CA, timeout), keeping the grant.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_endpoint(mut self, endpoint: TokenEndpoint) -> Result<OAuth2Client, TokenError> {
        self.agent = endpoint.agent()?;
        self.endpoint = endpoint;
        Ok(self)
    }

    /// For a JWT-bearer grant: the user the service account acts for
    /// (`sub`, Google's domain-wide delegation).
    pub fn with_subject(mut self, subject: impl Into<String>) -> OAuth2Client {
        if let Grant::JwtBearer { subject: s, .. } = &mut self.grant {
            *s = Some(subject.into());
        }
        self
    }

    /// The refresh token in use: the one given, or the last one the
    /// server rotated to (store it where the first came from, or the next
    /// process starts with a token the server may have retired).
    pub fn refresh_token(&self) -> Option<Secret> {
        self.refresh_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The form this request sends, and the `Authorization` header if the
    /// client authenticates with one; `now` dates the assertions.
    fn request(&self, now: SystemTime) -> Result<(Form, Option<Secret>), TokenError> {
        let mut form: Vec<(&'static str, Secret)> = vec![("grant_type", self.grant.name().into())];
        let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match &self.grant {
            Grant::RefreshToken(_) => {
                let token = self.refresh_token().ok_or_else(|| {
                    TokenError::Config("the refresh-token grant has no refresh token".into())
                })?;
                form.push(("refresh_token", token));
            }
            Grant::ClientCredentials => {}
            Grant::JwtBearer {
                issuer,
                subject,
                key,
            } => {
                let mut claims = Map::new();
                claims.insert("iss".into(), issuer.clone().into());
                if let Some(subject) = subject {
                    claims.insert("sub".into(), subject.clone().into());
                }
                claims.insert("aud".into(), self.endpoint.url.clone().into());
                if let Some(scope) = &self.scope {
                    claims.insert("scope".into(), scope.clone().into());
                }
                claims.insert("iat".into(), seconds(now).into());
                claims.insert("exp".into(), seconds(now + GRANT_ASSERTION_LIFETIME).into());
                form.push(("assertion", key.sign(&claims)?));
            }
        }
        if let (Some(scope), false) = (&self.scope, matches!(self.grant, Grant::JwtBearer { .. })) {
            form.push(("scope", scope.as_str().into()));
        }
        let mut authorization = None;
        match (&self.auth, &self.client_id) {
            (ClientAuth::Secret(secret), Some(id)) => {
                // RFC 6749 §2.3.1: each form-encoded, then base64.
                let pair = format!("{}:{}", form_encode(id), form_encode(secret.expose()));
                authorization = Some(Secret::new(format!("Basic {}", STANDARD.encode(pair))));
            }
            (ClientAuth::SecretInForm(secret), Some(id)) => {
                form.push(("client_id", id.as_str().into()));
                form.push(("client_secret", secret.clone()));
            }
            (ClientAuth::PrivateKeyJwt(key), Some(id)) => {
                let mut claims = Map::new();
                claims.insert("iss".into(), id.clone().into());
                claims.insert("sub".into(), id.clone().into());
                claims.insert("aud".into(), self.endpoint.url.clone().into());
                claims.insert("jti".into(), random_id()?.into());
                claims.insert("iat".into(), seconds(now).into());
                claims.insert("nbf".into(), seconds(now).into());
                claims.insert(
                    "exp".into(),
                    seconds(now + CLIENT_ASSERTION_LIFETIME).into(),
                );
                form.push(("client_id", id.as_str().into()));
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE.into()));
                form.push(("client_assertion", key.sign(&claims)?));
            }
            (ClientAuth::None, Some(id)) => form.push(("client_id", id.as_str().into())),
            (_, None) => {}
        }
        Ok((form, authorization))
    }
}

impl TokenSource for OAuth2Client {
    fn fetch(&self) -> Result<AccessToken, TokenError> {
        let (form, authorization) = self.request(SystemTime::now())?;
        let mut request = self
            .agent
            .post(&self.endpoint.url)
            .header("Accept", "application/json");
        if let Some(authorization) = &authorization {
            request = request.header("Authorization", authorization.expose());
        }
        let shown = self.endpoint.shown_url();
        let unreachable = |e: ureq::Error| TokenError::Unreachable {
            endpoint: shown.clone(),
            reason: e.to_string().replace(&self.endpoint.url, &shown),
        };
        let mut response = request
            .send_form(form.iter().map(|(k, v)| (*k, v.expose())))
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => TokenError::Malformed {
                    status,
                    reason: format!("the response is longer than {MAX_RESPONSE} bytes"),
                },
                e => unreachable(e),
            })?;
        let (token, rotated) = parse_response(status, &body)?;
        if let Some(rotated) = rotated
            && matches!(self.grant, Grant::RefreshToken(_))
        {
            *self
                .refresh_token
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(rotated);
        }
        Ok(token)
    }

    fn describe(&self) -> String {
        let auth = match self.auth {
            ClientAuth::None => "no client authentication",
            ClientAuth::Secret(_) => "client secret (HTTP Basic)",
            ClientAuth::SecretInForm(_) => "client secret (in the form)",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        };
        let mut text = format!(
            "OAuth 2.0 {} grant at {}",
            self.grant.name(),
            self.endpoint.shown_url()
        );
        if let Some(id) = &self.client_id {
            text.push_str(&format!(", client {id}"));
        }
        text.push_str(&format!(", {auth}"));
        if let Grant::JwtBearer { issuer, .. } = &self.grant {
            text.push_str(&format!(", assertions signed for {issuer}"));
        }
        if let Some(scope) = &self.scope {
            text.push_str(&format!(", scope {scope}"));
        }
        text
    }
}

impl std::fmt::Debug for OAuth2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Client")
            .field("endpoint", &self.endpoint.shown_url())
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("grant", &self.grant)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A token response (RFC 6749 §5.1) or error response (§5.2): the token,
/// and a rotated refresh token if the server sent one.
pub(crate) fn parse_response(
    status: u16,
    body: &[u8],
) -> Result<(AccessToken, Option<Secret>), TokenError> {
    let malformed = |reason: String| TokenError::Malformed { status, reason };
    let object: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let error = object
            .as_ref()
            .and_then(|o| o.get("error"))
            .and_then(Value::as_str);
        return Err(match error {
            Some(error) => TokenError::Refused {
                status,
                error: error.to_owned(),
                description: object
                    .as_ref()
                    .and_then(|o| o.get("error_description"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            None => malformed(format!("HTTP {status} without an OAuth error")),
        });
    }
    let object = object.ok_or_else(|| malformed("not a JSON object".into()))?;
    let token = object
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("no access_token".into()))?;
    if !crate::is_bearer_token(token) {
        return Err(malformed(
            "the access_token has characters a bearer token cannot have".into(),
        ));
    }
    match object.get("token_type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("bearer") => {}
        Some(t) => {
            return Err(malformed(format!(
                "token_type {} is not Bearer",
                smtpkit_proto::escape_text(t)
            )));
        }
        None => return Err(malformed("no token_type".into())),
    }
    let expires_in = match object.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        // Some servers (Microsoft's v1 endpoint) send it as a string.
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    };
    if object.contains_key("expires_in") && expires_in.is_none() {
        return Err(malformed("expires_in is not a number of seconds".into()));
    }
    let rotated = object
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    Ok((
        AccessToken::new(token, expires_in.map(Duration::from_secs)),
        rotated,
    ))
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A `jti`: 16 random bytes, hex.
fn random_id() -> Result<String, TokenError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| TokenError::Config("no randomness for the assertion's jti".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const RSA_PKCS8: &[u8] = include_bytes!("../tests/data/rsa-2048.pem");

    fn client(auth: ClientAuth, grant: Grant) -> OAuth2Client {
        OAuth2Client::new(
            TokenEndpoint::new("https://idp.example/token"),
            Some("app id".into()),
            auth,
            grant,
        )
        .unwrap()
        .with_scope("mail send")
    }

    fn form_map(
        form: &[(&'static str, Secret)],
    ) -> std::collections::BTreeMap<&'static str, String> {
        form.iter()
            .map(|(k, v)| (*k, v.expose().to_owned()))
            .collect()
    }

    fn claims(jwt: &str) -> Value {
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn refresh_token_with_basic_authentication() {
        let c = client(
            ClientAuth::Secret(Secret::new("s3cr:t")),
            Grant::RefreshToken(Secret::new("rt-1")),
        );
        let (form, auth) = c.request(SystemTime::now()).unwrap();
        let form = form_map(&form);
        assert_eq!(form["grant_type"], "refresh_token");
        assert_eq!(form["refresh_token"], "rt-1");
        assert_eq!(form["scope"], "mail send");
        assert!(!form.contains_key("client_secret"));
        // "app id" and "s3cr:t", each form-encoded, then base64.
        assert_eq!(
            auth.unwrap().expose(),
            format!("Basic {}", STANDARD.encode("app+id:s3cr%3At"))
        );
    }

    #[test]
    fn client_credentials_in_the_form_and_by_signed_assertion() {
        let c = client(
            ClientAuth::SecretInForm(Secret::new("s")),
            Grant::ClientCredentials,
        );
        let (form, auth) = c.request(SystemTime::now()).unwrap();
        let form = form_map(&form);
        assert_eq!(
            (
                form["grant_type"].as_str(),
                form["client_id"].as_str(),
                form["client_secret"].as_str()
            ),
            ("client_credentials", "app id", "s")
        );
        assert!(auth.is_none());

        let key = Arc::new(SigningKey::from_pem(RSA_PKCS8).unwrap().with_key_id("k"));
        let c = client(ClientAuth::PrivateKeyJwt(key), Grant::ClientCredentials);
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (form, auth) = c.request(now).unwrap();
        let form = form_map(&form);
        assert!(auth.is_none());
        assert_eq!(form["client_assertion_type"], CLIENT_ASSERTION_TYPE);
        let claims = claims(&form["client_assertion"]);
        assert_eq!(claims["iss"], "app id");
        assert_eq!(claims["sub"], "app id");
        assert_eq!(claims["aud"], "https://idp.example/token");
        assert_eq!(claims["iat"], 1_800_000_000u64);
        assert_eq!(claims["exp"], 1_800_000_300u64);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
        // A fresh jti every time: a server refuses a replayed assertion.
        let (again, _) = c.request(now).unwrap();
        assert_ne!(
            form_map(&again)["client_assertion"],
            form["client_assertion"]
        );
    }

    #[test]
    fn service_account_assertion() {
        let pem = String::from_utf8(RSA_PKCS8.to_vec()).unwrap();
        let json = serde_json::json!({
            "type": "service_account",
            "client_email": "sender@example.iam.invalid",
            "private_key_id": "abc123",
            "private_key": pem,
            "token_uri": "https://oauth2.example/token",
        })
        .to_string();
        let account = ServiceAccount::from_json(json.as_bytes()).unwrap();
        assert!(!format!("{account:?}").contains("PRIVATE"));
        let c = OAuth2Client::service_account(&account, "https://mail.google.com/")
            .unwrap()
            .with_subject("alice@example.org");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (form, auth) = c.request(now).unwrap();
        assert!(auth.is_none());
        let form = form_map(&form);
        assert_eq!(form["grant_type"], JWT_BEARER);
        assert!(!form.contains_key("scope"), "the scope is a claim");
        let jwt = &form["assertion"];
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (header["alg"].as_str(), header["kid"].as_str()),
            (Some("RS256"), Some("abc123"))
        );
        let claims = claims(jwt);
        assert_eq!(claims["iss"], "sender@example.iam.invalid");
        assert_eq!(claims["sub"], "alice@example.org");
        assert_eq!(claims["aud"], "https://oauth2.example/token");
        assert_eq!(claims["scope"], "https://mail.google.com/");
        assert_eq!(claims["exp"], 1_800_003_600u64);
        for (bad, why) in [
            (r#"{"type":"authorized_user"}"#, "type"),
            (r#"{"type":"service_account"}"#, "private_key"),
            ("[]", "not JSON"),
        ] {
            let e = ServiceAccount::from_json(bad.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn responses_are_parsed_strictly() {
        let (t, rotated) = parse_response(
            200,
            br#"{"access_token":"at-1","token_type":"bearer","expires_in":"3599","refresh_token":"rt-2"}"#,
        )
        .unwrap();
        assert_eq!(t.secret().expose(), "at-1");
        assert_eq!(t.expires_in(), Some(Duration::from_secs(3599)));
        assert_eq!(rotated.unwrap().expose(), "rt-2");
        let (t, _) = parse_response(200, br#"{"access_token":"a","token_type":"Bearer"}"#).unwrap();
        assert_eq!(t.expires_in(), None);
        let refused = parse_response(
            400,
            br#"{"error":"invalid_grant","error_description":"grant request is invalid\u001b[2J"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&refused, TokenError::Refused { status: 400, error, .. } if error == "invalid_grant")
        );
        assert!(!refused.to_string().contains('\u{1b}'), "{refused}");
        assert!(!refused.is_transient());
        for (status, body, why) in [
            (200, &b"<html>"[..], "not a JSON object"),
            (200, br#"{"token_type":"Bearer"}"#, "no access_token"),
            (200, br#"{"access_token":"a"}"#, "no token_type"),
            (
                200,
                br#"{"access_token":"a","token_type":"mac"}"#,
                "not Bearer",
            ),
            (
                200,
                b"{\"access_token\":\"a\\r\\nMAIL FROM:<x>\",\"token_type\":\"Bearer\"}",
                "cannot have",
            ),
            (
                200,
                br#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
                "expires_in",
            ),
            (502, b"Bad gateway", "without an OAuth error"),
        ] {
            let e = parse_response(status, body).unwrap_err();
            assert!(matches!(e, TokenError::Malformed { .. }), "{e}");
            assert!(e.to_string().contains(why), "{e} lacks {why}");
        }
        assert!(parse_response(503, b"").unwrap_err().is_transient());
    }

    #[test]
    fn credentials_in_the_endpoint_url_are_never_shown() {
        let endpoint = TokenEndpoint::new("http://app:pa55word@127.0.0.1:1/token?x=1");
        assert_eq!(
            endpoint.shown_url(),
            "http://[redacted]@127.0.0.1:1/token?x=1"
        );
        assert_eq!(
            TokenEndpoint::new("https://idp.example/a@b").shown_url(),
            "https://idp.example/a@b",
            "an @ in the path is not credentials"
        );
        let e = OAuth2Client::new(
            endpoint.clone(),
            None,
            ClientAuth::None,
            Grant::ClientCredentials,
        )
        .unwrap_err();
        let client = OAuth2Client::new(
            endpoint.dangerous_allow_http(),
            None,
            ClientAuth::None,
            Grant::ClientCredentials,
        )
        .unwrap();
        let unreachable = client.fetch().unwrap_err();
        for text in [
            e.to_string(),
            unreachable.to_string(),
            format!("{client:?}"),
            client.describe(),
        ] {
            assert!(!text.contains("pa55word"), "{text}");
        }
    }

    #[test]
    fn plain_http_needs_the_dangerous_switch() {
        let e = OAuth2Client::new(
            TokenEndpoint::new("http://127.0.0.1:1/token"),
            None,
            ClientAuth::None,
            Grant::ClientCredentials,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not HTTPS"), "{e}");
        assert!(
            OAuth2Client::new(
                TokenEndpoint::new("http://127.0.0.1:1/token").dangerous_allow_http(),
                None,
                ClientAuth::None,
                Grant::ClientCredentials,
            )
            .is_ok()
        );
    }

    /// A token endpoint on loopback for one request at a time: answers
    /// each with the next (status, body) and hands back what it read.
    fn endpoint_answering(
        answers: Vec<(u16, String)>,
    ) -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let (seen, requests) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut request = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    request.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut form = vec![0; length];
                reader.read_exact(&mut form).unwrap();
                request.push_str(&String::from_utf8(form).unwrap());
                seen.send(request).unwrap();
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                reader.get_mut().write_all(response.as_bytes()).unwrap();
            }
        });
        (url, requests)
    }

    #[test]
    fn a_refresh_token_grant_over_http_rotates_and_redacts() {
        let (url, requests) = endpoint_answering(vec![
            (
                200,
                r#"{"access_token":"at-1","token_type":"Bearer","expires_in":60,"refresh_token":"rt-ROTATED"}"#.into(),
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"revoked"}"#.into(),
            ),
        ]);
        let client = OAuth2Client::new(
            TokenEndpoint::new(url).dangerous_allow_http(),
            Some("cid".into()),
            ClientAuth::Secret(Secret::new("client-SECRET")),
            Grant::RefreshToken(Secret::new("rt-FIRST")),
        )
        .unwrap()
        .with_scope("mail");
        let token = client.fetch().unwrap();
        assert_eq!(token.secret().expose(), "at-1");
        assert_eq!(token.expires_in(), Some(Duration::from_secs(60)));
        let first = requests.recv().unwrap();
        assert!(first.starts_with("POST /token HTTP/1.1"), "{first}");
        assert!(
            first.contains(&format!(
                "authorization: Basic {}",
                STANDARD.encode("cid:client-SECRET")
            )) || first.contains(&format!(
                "Authorization: Basic {}",
                STANDARD.encode("cid:client-SECRET")
            )),
            "{first}"
        );
        assert!(
            first.ends_with("grant_type=refresh_token&refresh_token=rt-FIRST&scope=mail"),
            "{first}"
        );
        assert_eq!(client.refresh_token().unwrap().expose(), "rt-ROTATED");
        // The rotated one goes next; the refusal names no secret.
        let error = client.fetch().unwrap_err();
        assert!(
            requests
                .recv()
                .unwrap()
                .contains("refresh_token=rt-ROTATED")
        );
        assert!(
            matches!(&error, TokenError::Refused { status: 400, error, .. } if error == "invalid_grant")
        );
        for text in [
            error.to_string(),
            format!("{error:?}"),
            format!("{client:?}"),
        ] {
            assert!(!text.contains("SECRET") && !text.contains("rt-"), "{text}");
        }
    }

    #[test]
    fn a_signed_assertion_never_shows_in_an_error() {
        let (url, requests) = endpoint_answering(vec![(
            401,
            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#
                .into(),
        )]);
        let key = Arc::new(SigningKey::from_pem(RSA_PKCS8).unwrap());
        let client = OAuth2Client::new(
            TokenEndpoint::new(url).dangerous_allow_http(),
            Some("app".into()),
            ClientAuth::PrivateKeyJwt(key),
            Grant::ClientCredentials,
        )
        .unwrap();
        let error = client.fetch().unwrap_err();
        let request = requests.recv().unwrap();
        let assertion = request
            .split('&')
            .find_map(|p| p.strip_prefix("client_assertion="))
            .unwrap();
        assert_eq!(assertion.split('.').count(), 3, "{request}");
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(text.contains("invalid_client"), "{text}");
            assert!(!text.contains(assertion), "{text}");
        }
    }

    #[test]
    fn transport_failures_and_huge_responses_are_typed() {
        let fetch = |url: String| {
            OAuth2Client::new(
                TokenEndpoint::new(url).dangerous_allow_http(),
                None,
                ClientAuth::None,
                Grant::ClientCredentials,
            )
            .unwrap()
            .fetch()
            .unwrap_err()
        };
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", closed.local_addr().unwrap());
        drop(closed);
        let error = fetch(url);
        assert!(matches!(error, TokenError::Unreachable { .. }), "{error}");
        assert!(error.is_transient());

        let (url, _requests) = endpoint_answering(vec![(200, "x".repeat(100_000))]);
        let error = fetch(url);
        assert!(
            matches!(&error, TokenError::Malformed { reason, .. } if reason.contains("longer than")),
            "{error}"
        );
    }

    #[test]
    fn no_secret_in_debug_or_describe() {
        let key = Arc::new(SigningKey::from_pem(RSA_PKCS8).unwrap());
        for c in [
            client(
                ClientAuth::Secret(Secret::new("client-SECRET")),
                Grant::RefreshToken(Secret::new("refresh-SECRET")),
            ),
            client(
                ClientAuth::SecretInForm(Secret::new("client-SECRET")),
                Grant::ClientCredentials,
            ),
            client(ClientAuth::PrivateKeyJwt(key), Grant::ClientCredentials),
        ] {
            for text in [
                format!("{c:?}"),
                c.describe(),
                format!("{:?}", crate::TokenCache::new(c)),
            ] {
                assert!(
                    !text.contains("SECRET") && !text.contains("PRIVATE"),
                    "{text}"
                );
            }
        }
    }
}
