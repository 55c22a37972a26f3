//! `smtp-send probe`: the greeting, the extensions before and after TLS,
//! the TLS connection and the certificate chain.

use serde_json::{Value, json};
use smtpkit_proto::{EhloResponse, SessionInfo};

use crate::cli::Cli;
use crate::output::report_connect_error;
use crate::{Fail, conn, exit, runtime_kind, send, settings};

/// `smtp-send probe`.
pub(crate) fn run(cli: &Cli) -> Result<u8, Fail> {
    let settings = settings::resolve(cli)?.settings;
    let runtime = runtime_kind(cli)?;
    let client = match conn::connect(runtime, &settings, send::transcript(cli)) {
        Ok(c) => c,
        Err(e) => return Ok(report_connect_error(cli, &settings, e, None).0),
    };
    let info = client.info();
    let (before, after) = match &info.extensions_before_tls {
        Some(before) => (keywords(Some(before)), keywords(info.extensions.as_ref())),
        None => (keywords(info.extensions.as_ref()), Vec::new()),
    };
    let report = json!({
        "server": format!("{}:{}", settings.host, settings.port()),
        "greeting": info.greeting.as_ref().map(|g| match g.enhanced_code() {
            Some(e) => format!("{} {e} {}", g.code(), g.message()),
            None => format!("{} {}", g.code(), g.message()),
        }),
        "extensions_before_tls": before,
        "extensions_after_tls": after,
        "tls": tls_json(&info),
        "auth": info.auth_mechanism,
    });
    client.close();
    if cli.json {
        println!("{report}");
    } else {
        print_report(&report, &before, &after);
    }
    Ok(exit::OK)
}

fn keywords(e: Option<&EhloResponse>) -> Vec<String> {
    e.map(|e| e.extensions().iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// The TLS connection and the server's certificate chain, or null.
fn tls_json(info: &SessionInfo) -> Option<Value> {
    info.tls.as_ref().map(|info| {
        json!({
            "version": info.version,
            "cipher_suite": info.cipher_suite,
            "verified": info.verified,
            "certificates": info.peer_certificates.iter().enumerate().map(|(i, der)| json!({
                "subject": info.peer_summaries.get(i)
                    .map(|s| smtpkit_proto::escape_text(&s.subject).into_owned()),
                "sha256": hex(&sha256(der)),
                "spki_sha256": smtpkit_tls::spki_sha256(der).map(|d| hex(&d)),
                "length": der.len(),
            })).collect::<Vec<_>>(),
        })
    })
}

/// The report without `--json`. The JSON is exact; what a person reads is
/// escaped.
fn print_report(report: &Value, before: &[String], after: &[String]) {
    let shown = |v: &[String]| smtpkit_proto::escape_text(&v.join(", ")).into_owned();
    println!(
        "greeting:   {}",
        smtpkit_proto::escape_text(report["greeting"].as_str().unwrap_or("-"))
    );
    println!("extensions: {}", shown(before));
    match &report["tls"] {
        Value::Null => println!("tls:        none"),
        tls => {
            println!("extensions after TLS: {}", shown(after));
            println!(
                "tls:        {} {} (certificate {})",
                tls["version"].as_str().unwrap_or("?"),
                tls["cipher_suite"].as_str().unwrap_or("?"),
                if tls["verified"].as_bool() == Some(true) {
                    "verified"
                } else {
                    "NOT verified"
                }
            );
            for (i, cert) in tls["certificates"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                println!(
                    "cert[{i}]:    sha256 {}  spki-sha256 {}  {} octets",
                    cert["sha256"].as_str().unwrap_or("?"),
                    cert["spki_sha256"].as_str().unwrap_or("?"),
                    cert["length"]
                );
            }
        }
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
