//! The tokio adapter of the shared suites (smtp-testkit's conformance and
//! interop suites), on a fresh multi-threaded runtime per connection.

use smtp_suites::conformance::{
    Adapter, BuiltMessage, Connection, RunResult, SharedPool, TestBody,
};
use smtp_suites::with_built;
use smtpkit_proto::{DeliveryReport, Envelope, SessionInfo};
use smtpkit_tokio::{
    Body, Client, ClientSettings, ConnectFailure, Error, Pool, PoolConfig, TranscriptHook,
};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// The client on tokio.
pub(crate) struct Tokio;

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn body(b: TestBody) -> Body {
    match b {
        TestBody::Bytes(b) => Body::from(b),
        TestBody::File(p) => Body::File(p),
        TestBody::Reader(b) => Body::Reader(Box::new(std::io::Cursor::new(b).compat())),
    }
}

/// A pool on a runtime of its own; each send is a task on it.
struct TokioPool {
    runtime: tokio::runtime::Runtime,
    pool: Pool,
}

impl SharedPool for TokioPool {
    fn send_message(&self, message: TestBody) -> Result<DeliveryReport, Error> {
        let (pool, message) = (self.pool.clone(), body(message));
        let task = self
            .runtime
            .spawn(async move { pool.send_message(message).await });
        self.runtime
            .block_on(task)
            .unwrap_or_else(|e| Err(Error::Io(std::io::Error::other(e))))
    }
    fn close(self: Box<Self>) {
        self.runtime.block_on(self.pool.close());
    }
}

struct TokioConnection {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl Connection for TokioConnection {
    fn send(&mut self, envelope: Envelope, b: TestBody) -> Result<DeliveryReport, Error> {
        self.runtime.block_on(self.client.send(envelope, body(b)))
    }
    fn send_all(
        &mut self,
        messages: Vec<(Envelope, TestBody)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let messages = messages.into_iter().map(|(e, b)| (e, body(b))).collect();
        self.runtime.block_on(self.client.send_all(messages))
    }
    fn send_message(&mut self, message: TestBody) -> Result<DeliveryReport, Error> {
        self.runtime
            .block_on(self.client.send_message(body(message)))
    }
    fn send_built(&mut self, message: BuiltMessage) -> Result<DeliveryReport, Error> {
        with_built!(message, m => self.runtime.block_on(self.client.send_message(m)))
    }
    fn is_connected(&mut self) -> bool {
        self.runtime.block_on(self.client.is_connected())
    }
    fn info(&self) -> SessionInfo {
        self.client.info().clone()
    }
    fn close(self: Box<Self>) -> Result<(), Error> {
        let TokioConnection { client, runtime } = *self;
        runtime.block_on(client.close())
    }
}

impl Adapter for Tokio {
    const NAME: &'static str = "tokio";

    fn send_message_once(
        settings: &ClientSettings,
        message: TestBody,
    ) -> Result<DeliveryReport, Error> {
        runtime()?.block_on(smtpkit_tokio::send_message(settings, body(message)))
    }

    fn pool_send_message(
        settings: &ClientSettings,
        config: PoolConfig,
        message: TestBody,
    ) -> Result<DeliveryReport, Error> {
        runtime()?.block_on(async {
            let pool = Pool::new(settings.clone(), config);
            let report = pool.send_message(body(message)).await;
            pool.close().await;
            report
        })
    }

    fn relay_send_once(
        set: &smtpkit_tokio::RelaySet,
        message: TestBody,
    ) -> Result<smtpkit_tokio::RelayReport, Error> {
        runtime()?.block_on(smtpkit_tokio::send_message_via(set, body(message)))
    }

    fn relay_send_messages(
        set: smtpkit_tokio::RelaySet,
        config: PoolConfig,
        messages: Vec<TestBody>,
    ) -> Vec<Result<smtpkit_tokio::RelayReport, Error>> {
        let runtime = match runtime() {
            Ok(r) => r,
            Err(e) => return vec![Err(e)],
        };
        runtime.block_on(async {
            let pool = smtpkit_tokio::RelayPool::new(set, config);
            let mut reports = Vec::new();
            for m in messages {
                // Spawned, to prove the future is Send.
                let (pool, m) = (pool.clone(), body(m));
                let task = tokio::spawn(async move { pool.send_message(m).await });
                reports.push(
                    task.await
                        .unwrap_or_else(|e| Err(Error::Io(std::io::Error::other(e)))),
                );
            }
            pool.close().await;
            reports
        })
    }

    fn pool(settings: &ClientSettings, config: PoolConfig) -> Box<dyn SharedPool> {
        let runtime = runtime().unwrap_or_else(|e| panic!("tokio: {e}"));
        let pool = runtime.block_on(async { Pool::new(settings.clone(), config) });
        Box::new(TokioPool { runtime, pool })
    }

    fn send_built_once(
        settings: &ClientSettings,
        message: BuiltMessage,
    ) -> Result<DeliveryReport, Error> {
        let settings = settings.clone();
        // Spawned, to prove the futures are Send + 'static.
        runtime()?.block_on(async move {
            tokio::spawn(async move {
                match message {
                    BuiltMessage::Lettre(m) => smtpkit_tokio::send_message(&settings, m).await,
                    BuiltMessage::LettreRef(m) => smtpkit_tokio::send_message(&settings, &m).await,
                    BuiltMessage::MailBuilder(m) => smtpkit_tokio::send_message(&settings, m).await,
                }
            })
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
        })
    }

    fn pool_send_built(
        settings: &ClientSettings,
        config: PoolConfig,
        message: BuiltMessage,
    ) -> Result<DeliveryReport, Error> {
        runtime()?.block_on(async {
            let pool = Pool::new(settings.clone(), config);
            let report = with_built!(message, m => pool.send_message(m).await);
            pool.close().await;
            report
        })
    }

    fn connect(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Box<dyn Connection>, ConnectFailure> {
        let runtime = runtime()?;
        let client = runtime.block_on(Client::connect_reporting(settings, transcript))?;
        Ok(Box::new(TokioConnection { client, runtime }))
    }

    fn connect_stream(
        stream: std::net::TcpStream,
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Box<dyn Connection>, Error> {
        let runtime = runtime()?;
        stream.set_nonblocking(true)?;
        let client = runtime.block_on(async {
            let stream = tokio::net::TcpStream::from_std(stream)?;
            let stream = tokio_util::either::Either::Left(stream).compat();
            Client::from_stream(stream, settings, transcript).await
        })?;
        Ok(Box::new(TokioConnection { client, runtime }))
    }

    fn run(
        settings: &ClientSettings,
        transcript: TranscriptHook,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> RunResult {
        let runtime = runtime()?;
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
