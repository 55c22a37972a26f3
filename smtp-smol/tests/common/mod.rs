//! The smol and async-std adapters of the shared suites (smtp-testkit's
//! conformance and interop suites), on each executor's `block_on`.

use std::future::Future;

use async_io::Async;
use smtp_suites::conformance::{Adapter, BuiltMessage, Connection, SharedPool, TestBody};
use smtp_suites::with_built;
use smtpkit_proto::{DeliveryReport, Envelope, SessionInfo};
use smtpkit_smol::{
    Body, Client, ClientSettings, ConnectFailure, Error, Pool, PoolConfig, TranscriptHook,
};

/// How futures are run.
trait Executor: 'static {
    fn block_on<F: Future>(future: F) -> F::Output;
}

/// The client on smol.
pub(crate) struct Smol;

impl Executor for Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

/// The same client on async-std.
pub(crate) struct AsyncStd;

impl Executor for AsyncStd {
    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

fn body(b: TestBody) -> Body {
    match b {
        TestBody::Bytes(b) => Body::from(b),
        TestBody::File(p) => Body::File(p),
        TestBody::Reader(b) => Body::Reader(Box::new(smol::io::Cursor::new(b))),
    }
}

/// A pool driven on executor `E` from any thread.
struct SmolPool<E>(Pool, std::marker::PhantomData<fn() -> E>);

impl<E: Executor> SharedPool for SmolPool<E> {
    fn send_message(&self, message: TestBody) -> Result<DeliveryReport, Error> {
        E::block_on(self.0.send_message(body(message)))
    }
    fn close(self: Box<Self>) {
        E::block_on(self.0.close());
    }
}

struct SmolConnection<E> {
    client: Client,
    _executor: std::marker::PhantomData<E>,
}

impl<E: Executor> Connection for SmolConnection<E> {
    fn send(&mut self, envelope: Envelope, b: TestBody) -> Result<DeliveryReport, Error> {
        E::block_on(self.client.send(envelope, body(b)))
    }
    fn send_all(
        &mut self,
        messages: Vec<(Envelope, TestBody)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let messages = messages.into_iter().map(|(e, b)| (e, body(b))).collect();
        E::block_on(self.client.send_all(messages))
    }
    fn send_message(&mut self, message: TestBody) -> Result<DeliveryReport, Error> {
        E::block_on(self.client.send_message(body(message)))
    }
    fn send_built(&mut self, message: BuiltMessage) -> Result<DeliveryReport, Error> {
        with_built!(message, m => E::block_on(self.client.send_message(m)))
    }
    fn is_connected(&mut self) -> bool {
        E::block_on(self.client.is_connected())
    }
    fn info(&self) -> SessionInfo {
        self.client.info().clone()
    }
    fn close(self: Box<Self>) -> Result<(), Error> {
        E::block_on(self.client.close())
    }
}

fn connection<E: Executor>(client: Client) -> Box<dyn Connection> {
    Box::new(SmolConnection::<E> {
        client,
        _executor: std::marker::PhantomData,
    })
}

macro_rules! adapter {
    ($executor:ty, $name:literal) => {
        impl Adapter for $executor {
            const NAME: &'static str = $name;

            fn send_message_once(
                settings: &ClientSettings,
                message: TestBody,
            ) -> Result<DeliveryReport, Error> {
                <$executor>::block_on(smtpkit_smol::send_message(settings, body(message)))
            }

            fn pool_send_message(
                settings: &ClientSettings,
                config: PoolConfig,
                message: TestBody,
            ) -> Result<DeliveryReport, Error> {
                <$executor>::block_on(async {
                    let pool = Pool::new(settings.clone(), config);
                    let report = pool.send_message(body(message)).await;
                    pool.close().await;
                    report
                })
            }

            fn relay_send_once(
                set: &smtpkit_smol::RelaySet,
                message: TestBody,
            ) -> Result<smtpkit_smol::RelayReport, Error> {
                <$executor>::block_on(smtpkit_smol::send_message_via(set, body(message)))
            }

            fn relay_send_messages(
                set: smtpkit_smol::RelaySet,
                config: PoolConfig,
                messages: Vec<TestBody>,
            ) -> Vec<Result<smtpkit_smol::RelayReport, Error>> {
                <$executor>::block_on(async {
                    let pool = smtpkit_smol::RelayPool::new(set, config);
                    let mut reports = Vec::new();
                    for m in messages {
                        reports.push(pool.send_message(body(m)).await);
                    }
                    pool.close().await;
                    reports
                })
            }

            fn pool(settings: &ClientSettings, config: PoolConfig) -> Box<dyn SharedPool> {
                Box::new(SmolPool::<$executor>(Pool::new(settings.clone(), config), std::marker::PhantomData))
            }

            fn send_built_once(
                settings: &ClientSettings,
                message: BuiltMessage,
            ) -> Result<DeliveryReport, Error> {
                with_built!(message, m => <$executor>::block_on(smtpkit_smol::send_message(settings, m)))
            }

            fn pool_send_built(
                settings: &ClientSettings,
                config: PoolConfig,
                message: BuiltMessage,
            ) -> Result<DeliveryReport, Error> {
                <$executor>::block_on(async {
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
                let client =
                    <$executor>::block_on(Client::connect_reporting(settings, transcript))?;
                Ok(connection::<$executor>(client))
            }

            fn connect_stream(
                stream: std::net::TcpStream,
                settings: &ClientSettings,
                transcript: Option<TranscriptHook>,
            ) -> Result<Box<dyn Connection>, Error> {
                let stream = futures_util::future::Either::Left(Async::new(stream)?);
                let client =
                    <$executor>::block_on(Client::from_stream(stream, settings, transcript))?;
                Ok(connection::<$executor>(client))
            }
        }
    };
}

adapter!(Smol, "smol");
adapter!(AsyncStd, "async-std");
