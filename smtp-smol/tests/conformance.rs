//! The shared conformance suite (smtp-testkit) on smol and on async-std.

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

mod smol_executor {
    use super::*;

    struct Smol;

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

    smtp_testkit::conformance_suite!(Smol);
}

mod async_std_executor {
    use super::*;

    struct AsyncStd;

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

    smtp_testkit::conformance_suite!(AsyncStd);
}
