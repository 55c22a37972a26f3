//! `smtp-send probe`: the greeting, the extensions before and after TLS,
//! the TLS connection and the certificate chain.

use serde_json::{Value, json};

use crate::cli::Cli;
use crate::output::report_error;
use crate::settings::settings;
use crate::{Fail, conn, exit, runtime_kind};

/// `smtp-send probe`.
pub(crate) fn probe(cli: &Cli) -> Result<u8, Fail> {
    let settings = settings(cli)?;
    let runtime = runtime_kind(cli)?;
    let transcript: Option<smtpkit_blocking::TranscriptHook> = cli
        .transcript
        .then(|| Box::new(|e: &smtpkit_proto::TranscriptEntry| eprintln!("{e}")) as _);
    let client = match conn::connect(runtime, &settings, transcript) {
        Ok(c) => c,
        Err(e) => return Ok(report_error(cli, &e, None, &[])),
    };
    let info = client.info();
    let keywords = |e: Option<&smtpkit_proto::EhloResponse>| -> Vec<String> {
        e.map(|e| e.extensions().iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    };
    let (before, after) = match &info.extensions_before_tls {
        Some(before) => (keywords(Some(before)), keywords(info.extensions.as_ref())),
        None => (keywords(info.extensions.as_ref()), Vec::new()),
    };
    let tls = info.tls.as_ref().map(|info| {
        json!({
            "version": info.version,
            "cipher_suite": info.cipher_suite,
            "verified": info.verified,
            "certificates": info.peer_certificates.iter().map(|der| json!({
                "sha256": hex(&sha256(der)),
                "spki_sha256": smtpkit_tls::spki_sha256(der).map(|d| hex(&d)),
                "length": der.len(),
            })).collect::<Vec<_>>(),
        })
    });
    let report = json!({
        "server": format!("{}:{}", settings.host, settings.port()),
                "greeting": info.greeting.as_ref().map(|g| match g.enhanced_code() {
            Some(e) => format!("{} {e} {}", g.code(), g.message()),
            None => format!("{} {}", g.code(), g.message()),
        }),
        "extensions_before_tls": before,
        "extensions_after_tls": after,
        "tls": tls,
                "auth": info.auth_mechanism,
    });
    client.close();
    if cli.json {
        println!("{report}");
    } else {
        // The JSON is exact; what a person reads is escaped.
        let shown = |v: &[String]| smtpkit_proto::escape_text(&v.join(", ")).into_owned();
        println!(
            "greeting:   {}",
            smtpkit_proto::escape_text(report["greeting"].as_str().unwrap_or("-"))
        );
        println!("extensions: {}", shown(&before));
        match &report["tls"] {
            Value::Null => println!("tls:        none"),
            tls => {
                println!("extensions after TLS: {}", shown(&after));
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
    Ok(exit::OK)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
