//! The smol and async-std adapters of the shared suites (smtp-testkit's
//! conformance and interop suites): one connection per run, on each
//! executor's `block_on`.

use smtp_proto::{DeliveryReport, Envelope};
use smtp_smol::{Body, Client, ClientSettings, Error, TranscriptHook};
use smtp_testkit::conformance::Adapter;

async fn run(
    settings: ClientSettings,
    transcript: TranscriptHook,
    messages: Vec<(Envelope, Vec<u8>)>,
) -> Result<Vec<Result<DeliveryReport, Error>>, Error> {
    let mut client = Client::connect_with(&settings, Some(transcript)).await?;
    let results = client
        .send_all(
            messages
                .into_iter()
                .map(|(e, b)| (e, Body::from(b)))
                .collect(),
        )
        .await;
    let _ = client.close().await;
    Ok(results)
}

/// The client on smol.
pub struct Smol;

impl Adapter for Smol {
    const NAME: &'static str = "smol";
    fn run(
        settings: &ClientSettings,
        transcript: TranscriptHook,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<DeliveryReport, Error>>, Error> {
        smol::block_on(run(settings.clone(), transcript, messages))
    }
}

/// The same client on async-std.
pub struct AsyncStd;

impl Adapter for AsyncStd {
    const NAME: &'static str = "async-std";
    fn run(
        settings: &ClientSettings,
        transcript: TranscriptHook,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<DeliveryReport, Error>>, Error> {
        async_std::task::block_on(run(settings.clone(), transcript, messages))
    }
}
