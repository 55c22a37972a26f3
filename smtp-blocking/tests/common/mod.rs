//! The blocking adapter of the shared suites (smtp-testkit's conformance
//! and interop suites): one connection per run.

use smtp_blocking::{Body, Client, ClientSettings, Error, TranscriptHook};
use smtp_proto::{DeliveryReport, Envelope};
use smtp_testkit::conformance::Adapter;

/// The blocking client.
pub struct Blocking;

impl Adapter for Blocking {
    const NAME: &'static str = "blocking";

    fn run(
        settings: &ClientSettings,
        transcript: TranscriptHook,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<DeliveryReport, Error>>, Error> {
        let mut client = Client::connect_with(settings, Some(transcript))?;
        let results = client.send_all(
            messages
                .iter()
                .map(|(e, b)| (e.clone(), Body::Bytes(b)))
                .collect(),
        );
        let _ = client.close();
        Ok(results)
    }
}
