//! `smtp-send`: send one RFC 5322 message over SMTP, or run the demo.
//! See `smtp-send --help`.

use std::process::ExitCode;

use cli::{Cli, Commands};

mod bulk;
mod cli;
mod conn;
#[cfg(feature = "demo")]
mod demo;
mod keys;
mod log;
mod message;
mod msmtprc;
mod oauth;
mod output;
mod probe;
mod quick;
mod relay;
mod send;
mod settings;

/// Built without the `demo` feature: the subcommand says how to get it.
#[cfg(not(feature = "demo"))]
mod demo {
    pub(crate) fn run() -> u8 {
        eprintln!(
            "smtp-send: demo: this smtp-send was built without the `demo` feature \
             (it links the test server); run it with \
             `cargo run -p smtpkit-send --features demo -- demo`"
        );
        crate::exit::USAGE
    }
}

/// sysexits(3) codes, as documented in `--help`.
pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const USAGE: u8 = 64;
    pub(crate) const DATAERR: u8 = 65;
    pub(crate) const NOUSER: u8 = 67;
    pub(crate) const UNAVAILABLE: u8 = 69;
    pub(crate) const TEMPFAIL: u8 = 75;
    pub(crate) const PROTOCOL: u8 = 76;
    pub(crate) const NOPERM: u8 = 77;
    pub(crate) const CONFIG: u8 = 78;
}

/// A failure of the tool itself, with its exit status.
#[derive(Debug)]
pub(crate) struct Fail {
    code: u8,
    message: String,
}

pub(crate) fn fail(code: u8, message: impl Into<String>) -> Fail {
    Fail {
        code,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    let result = match cli.command {
        Some(Commands::Completions { shell }) => Ok(cli::completions(shell)),
        Some(Commands::Man) => Ok(cli::man()),
        Some(Commands::Demo) => Ok(demo::run()),
        Some(Commands::Probe) => probe::run(&cli),
        None => run(&cli),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("smtp-send: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Sends the message: the settings, then the message and its envelope,
/// then what was asked: a dry run, `--count` sends, or one send.
fn run(cli: &Cli) -> Result<u8, Fail> {
    // With a list of accounts, the first one's settings prepare the
    // message (its From:, Date:, Message-ID:, DKIM).
    let first = account_list(cli).map(|names| {
        let mut first = cli.clone();
        first.account = names.into_iter().next();
        first
    });
    let resolved = settings::resolve(first.as_ref().unwrap_or(cli))?;
    let runtime = runtime_kind(cli)?;
    let (envelope, message) = message::prepare(cli, &resolved.settings)?;
    let relays = match account_list(cli) {
        // `-a first,second,...`: each account resolved as if alone.
        Some(names) => names
            .into_iter()
            .map(|name| {
                let mut one = cli.clone();
                one.account = Some(name);
                settings::resolve(&one).map(|r| r.settings)
            })
            .collect::<Result<Vec<_>, Fail>>()?,
        None => settings::relays(cli, &resolved.settings)?,
    };
    if account_list(cli).is_some() && cli.server.len() > 1 {
        return Err(fail(
            exit::USAGE,
            "relays come from a list of accounts or from repeated -s, not both",
        ));
    }
    if cli.dry_run {
        output::dry_run(cli, &resolved, &relays, &envelope, &message.header);
        return Ok(exit::OK);
    }
    if !relays.is_empty() {
        if cli.count.is_some() {
            return Err(fail(
                exit::USAGE,
                "--count sends through one server: give one -s",
            ));
        }
        return relay::one(cli, relays, envelope, message);
    }
    if let Some(count) = cli.count {
        let data = message.into_bytes()?;
        return bulk::run(cli, &resolved.settings, runtime, envelope, data, count);
    }
    send::one(cli, &resolved, runtime, envelope, message)
}

/// `-a NAME,NAME,...`: the accounts of a relay set, in order.
fn account_list(cli: &Cli) -> Option<Vec<String>> {
    let names = cli.account.as_deref()?;
    names.contains(',').then(|| {
        names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// `--runtime` (tokio when not given); a runtime not built in is a usage
/// error.
fn runtime_kind(cli: &Cli) -> Result<conn::RuntimeKind, Fail> {
    match cli.runtime.as_deref() {
        None => Ok(conn::RuntimeKind::Tokio),
        Some(name) => conn::RuntimeKind::parse(name).map_err(|e| fail(exit::USAGE, e)),
    }
}
