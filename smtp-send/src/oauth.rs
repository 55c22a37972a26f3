//! OAuth 2.0 access tokens from the command line (`--oauth2-*`) or an
//! msmtp account (`auth oauthbearer|xoauth2` with `passwordeval`): a
//! `TokenCache` in `auth.tokens`, so that every runtime renews the token
//! and retries a refused one once. Secrets come from files (readable by
//! their owner only) or the environment, never from argv.

use std::path::Path;
use std::sync::Arc;

use smtpkit_client::exports::oauth2::{
    AccessToken, ClientAuth, Grant, OAuth2Client, Secret, ServiceAccount, SigningKey, TokenCache,
    TokenEndpoint, TokenError, TokenSource,
};

use crate::cli::Cli;
use crate::msmtprc::PasswordEval;
use crate::{Fail, exit, fail};

/// The token source the flags describe, if any.
pub(crate) fn from_flags(cli: &Cli) -> Result<Option<TokenCache>, Fail> {
    let config = |e: TokenError| fail(exit::CONFIG, e.to_string());
    if let Some(command) = &cli.oauth2_token_command {
        if cli.oauth2_token_url.is_some() || cli.oauth2_service_account.is_some() {
            return Err(fail(
                exit::USAGE,
                "--oauth2-token-command gives the token itself: no --oauth2-token-url or --oauth2-service-account with it",
            ));
        }
        return Ok(Some(TokenCache::new(TokenCommand::Flag(command.clone()))));
    }
    if let Some(path) = &cli.oauth2_service_account {
        let json = private_file(path, "--oauth2-service-account")?;
        let account = ServiceAccount::from_json(&json).map_err(config)?;
        let scope = cli
            .oauth2_scope
            .clone()
            .unwrap_or_else(|| "https://mail.google.com/".to_owned());
        let mut client = OAuth2Client::service_account(&account, scope).map_err(config)?;
        if let Some(subject) = &cli.oauth2_subject {
            client = client.with_subject(subject);
        }
        let endpoint = endpoint(cli, &account.token_uri)?;
        return Ok(Some(TokenCache::new(
            client.with_endpoint(endpoint).map_err(config)?,
        )));
    }
    let Some(url) = &cli.oauth2_token_url else {
        let stray = cli.oauth2_client_id.is_some()
            || cli.oauth2_refresh_token_file.is_some()
            || cli.oauth2_refresh_token_env.is_some()
            || cli.oauth2_client_key.is_some()
            || cli.oauth2_client_secret_file.is_some()
            || cli.oauth2_client_secret_env.is_some();
        if stray {
            return Err(fail(
                exit::USAGE,
                "the --oauth2-* flags need --oauth2-token-url (or --oauth2-service-account, or --oauth2-token-command)",
            ));
        }
        return Ok(None);
    };
    let client_id = cli
        .oauth2_client_id
        .clone()
        .ok_or_else(|| fail(exit::USAGE, "--oauth2-token-url needs --oauth2-client-id"))?;
    let secret = match (
        &cli.oauth2_client_secret_file,
        &cli.oauth2_client_secret_env,
    ) {
        (Some(path), _) => Some(first_line(&private_file(
            path,
            "--oauth2-client-secret-file",
        )?)),
        (None, Some(var)) => Some(env(var, "--oauth2-client-secret-env")?),
        (None, None) => None,
    };
    let auth = match (&cli.oauth2_client_key, secret) {
        (Some(_), Some(_)) => {
            return Err(fail(
                exit::USAGE,
                "--oauth2-client-key and a client secret: choose one way for the client to authenticate",
            ));
        }
        (Some(path), None) => {
            let pem = private_file(path, "--oauth2-client-key")?;
            let mut key = SigningKey::from_pem(&pem).map_err(config)?;
            if let Some(kid) = &cli.oauth2_client_key_id {
                key = key.with_key_id(kid);
            }
            if let Some(certificate) = &cli.oauth2_client_certificate {
                let pem = std::fs::read(certificate)
                    .map_err(|e| fail(exit::CONFIG, format!("{}: {e}", certificate.display())))?;
                key = key.with_certificate(&pem).map_err(config)?;
            }
            ClientAuth::PrivateKeyJwt(Arc::new(key))
        }
        (None, Some(secret)) if cli.oauth2_secret_in_form => ClientAuth::SecretInForm(secret),
        (None, Some(secret)) => ClientAuth::Secret(secret),
        (None, None) => ClientAuth::None,
    };
    let refresh_token = match (
        &cli.oauth2_refresh_token_file,
        &cli.oauth2_refresh_token_env,
    ) {
        (Some(path), _) => Some(first_line(&private_file(
            path,
            "--oauth2-refresh-token-file",
        )?)),
        (None, Some(var)) => Some(env(var, "--oauth2-refresh-token-env")?),
        (None, None) => None,
    };
    let grant = match refresh_token {
        Some(token) => Grant::RefreshToken(token),
        None => Grant::ClientCredentials,
    };
    let mut client =
        OAuth2Client::new(endpoint(cli, url)?, Some(client_id), auth, grant).map_err(config)?;
    if let Some(scope) = &cli.oauth2_scope {
        client = client.with_scope(scope);
    }
    Ok(Some(TokenCache::new(client)))
}

/// An msmtp account's `passwordeval` when its `auth` is a bearer mechanism
/// only: a token command, run again when the server refuses the token.
pub(crate) fn from_password_eval(eval: PasswordEval) -> TokenCache {
    TokenCache::new(TokenCommand::Account(eval))
}

fn endpoint(cli: &Cli, url: &str) -> Result<TokenEndpoint, Fail> {
    let mut endpoint = TokenEndpoint::new(url);
    if let Some(ca) = &cli.oauth2_ca {
        let pem = std::fs::read(ca)
            .map_err(|e| fail(exit::CONFIG, format!("--oauth2-ca {}: {e}", ca.display())))?;
        endpoint = endpoint.with_ca_pem(pem);
    }
    Ok(endpoint)
}

/// A secret file: readable by its owner only, as msmtp wants a file with
/// a password to be.
fn private_file(path: &Path, flag: &str) -> Result<Vec<u8>, Fail> {
    crate::msmtprc::check_permissions(path)?;
    std::fs::read(path).map_err(|e| fail(exit::CONFIG, format!("{flag} {}: {e}", path.display())))
}

fn first_line(bytes: &[u8]) -> Secret {
    Secret::new(
        String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    )
}

fn env(var: &str, flag: &str) -> Result<Secret, Fail> {
    std::env::var(var)
        .map(Secret::new)
        .map_err(|_| fail(exit::CONFIG, format!("{flag} {var}: not set")))
}

/// A command that prints an access token (its lifetime unknown: it is
/// used until the server refuses it, then the command runs again).
#[derive(Debug)]
enum TokenCommand {
    Flag(String),
    Account(PasswordEval),
}

impl TokenSource for TokenCommand {
    fn fetch(&self) -> Result<AccessToken, TokenError> {
        let token = match self {
            TokenCommand::Flag(command) => run(command)?,
            TokenCommand::Account(eval) => eval.run().map_err(|f| TokenError::Source(f.message))?,
        };
        if token.is_empty() {
            return Err(TokenError::Source(
                "the token command printed nothing".into(),
            ));
        }
        Ok(AccessToken::new(token, None))
    }

    fn describe(&self) -> String {
        match self {
            TokenCommand::Flag(_) => "the access token printed by --oauth2-token-command".into(),
            TokenCommand::Account(_) => {
                "the access token printed by the account's passwordeval".into()
            }
        }
    }
}

/// `sh -c CMD`, standard input closed: the first line of its output.
fn run(command: &str) -> Result<String, TokenError> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| TokenError::Source(format!("--oauth2-token-command: {e}")))?;
    if !output.status.success() {
        return Err(TokenError::Source(format!(
            "--oauth2-token-command failed ({})",
            output.status
        )));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| {
        TokenError::Source("--oauth2-token-command: the output is not UTF-8".into())
    })?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}
