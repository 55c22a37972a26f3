//! The shared conformance suite (smtp-testkit) on the blocking adapter.

use smtp_blocking::{Body, Client, ClientSettings, Error, TranscriptHook};
use smtp_proto::{DeliveryReport, Envelope};
use smtp_testkit::conformance::Adapter;

struct Blocking;

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

smtp_testkit::conformance_suite!(Blocking);
