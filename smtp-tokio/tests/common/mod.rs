//! The tokio adapter of the shared suites (smtp-testkit's conformance and
//! interop suites): one connection per run, on a fresh multi-threaded
//! runtime.

use smtp_proto::{DeliveryReport, Envelope};
use smtp_testkit::conformance::Adapter;
use smtp_tokio::{Body, Client, ClientSettings, Error, TranscriptHook};

/// The client on tokio.
pub struct Tokio;

impl Adapter for Tokio {
    const NAME: &'static str = "tokio";

    fn run(
        settings: &ClientSettings,
        transcript: TranscriptHook,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<DeliveryReport, Error>>, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let settings = settings.clone();
        // Spawned, to prove the futures are Send + 'static.
        runtime.block_on(async move {
            tokio::spawn(async move {
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
            })
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
        })
    }
}
