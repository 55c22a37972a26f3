//! The blocking adapter of the shared suites (smtp-testkit's conformance
//! and interop suites).

use smtp_suites::conformance::{Adapter, BuiltMessage, Connection, SharedPool, TestBody};
use smtp_suites::with_built;
use smtpkit_blocking::{
    Body, Client, ClientSettings, ConnectFailure, Error, Pool, PoolConfig, TranscriptHook,
};
use smtpkit_proto::{DeliveryReport, Envelope, SessionInfo};

/// The blocking client.
pub(crate) struct Blocking;

struct BlockingConnection(Client);

struct BlockingPool(Pool);

impl SharedPool for BlockingPool {
    fn send_message(&self, message: TestBody) -> Result<DeliveryReport, Error> {
        self.0.send_message(body(&message)?)
    }
    fn close(self: Box<Self>) {
        self.0.close();
    }
}

fn body(b: &TestBody) -> Result<Body<'_>, Error> {
    Ok(match b {
        TestBody::Bytes(b) => Body::Bytes(b),
        TestBody::File(path) => Body::File(std::fs::File::open(path).map_err(Error::Body)?),
        TestBody::Reader(b) => Body::Reader(Box::new(std::io::Cursor::new(b.as_slice()))),
    })
}

impl Connection for BlockingConnection {
    fn send(&mut self, envelope: Envelope, b: TestBody) -> Result<DeliveryReport, Error> {
        self.0.send(envelope, body(&b)?)
    }
    fn send_all(
        &mut self,
        messages: Vec<(Envelope, TestBody)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let mut batch = Vec::new();
        let mut failed = Vec::new();
        for (i, (envelope, b)) in messages.iter().enumerate() {
            match body(b) {
                Ok(body) => batch.push((envelope.clone(), body)),
                Err(e) => failed.push((i, e)),
            }
        }
        let mut results = self.0.send_all(batch);
        for (i, e) in failed {
            results.insert(i, Err(e));
        }
        results
    }
    fn send_message(&mut self, message: TestBody) -> Result<DeliveryReport, Error> {
        self.0.send_message(body(&message)?)
    }
    fn send_built(&mut self, message: BuiltMessage) -> Result<DeliveryReport, Error> {
        with_built!(message, m => self.0.send_message(m))
    }
    fn is_connected(&mut self) -> bool {
        self.0.is_connected()
    }
    fn info(&self) -> SessionInfo {
        self.0.info().clone()
    }
    fn close(self: Box<Self>) -> Result<(), Error> {
        self.0.close()
    }
}

impl Adapter for Blocking {
    const NAME: &'static str = "blocking";

    fn send_message_once(
        settings: &ClientSettings,
        message: TestBody,
    ) -> Result<DeliveryReport, Error> {
        smtpkit_blocking::send_message(settings, body(&message)?)
    }

    fn pool_send_message(
        settings: &ClientSettings,
        config: PoolConfig,
        message: TestBody,
    ) -> Result<DeliveryReport, Error> {
        let pool = Pool::new(settings.clone(), config);
        let report = pool.send_message(body(&message)?);
        pool.close();
        report
    }

    fn relay_send_once(
        set: &smtpkit_blocking::RelaySet,
        message: TestBody,
    ) -> Result<smtpkit_blocking::RelayReport, Error> {
        smtpkit_blocking::send_message_via(set, body(&message)?)
    }

    fn relay_send_messages(
        set: smtpkit_blocking::RelaySet,
        config: PoolConfig,
        messages: Vec<TestBody>,
    ) -> Vec<Result<smtpkit_blocking::RelayReport, Error>> {
        let pool = smtpkit_blocking::RelayPool::new(set, config);
        let reports = messages
            .iter()
            .map(|m| body(m).and_then(|b| pool.send_message(b)))
            .collect();
        pool.close();
        reports
    }

    fn pool(settings: &ClientSettings, config: PoolConfig) -> Box<dyn SharedPool> {
        Box::new(BlockingPool(Pool::new(settings.clone(), config)))
    }

    fn send_built_once(
        settings: &ClientSettings,
        message: BuiltMessage,
    ) -> Result<DeliveryReport, Error> {
        with_built!(message, m => smtpkit_blocking::send_message(settings, m))
    }

    fn pool_send_built(
        settings: &ClientSettings,
        config: PoolConfig,
        message: BuiltMessage,
    ) -> Result<DeliveryReport, Error> {
        let pool = Pool::new(settings.clone(), config);
        let report = with_built!(message, m => pool.send_message(m));
        pool.close();
        report
    }

    fn connect(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Box<dyn Connection>, ConnectFailure> {
        Ok(Box::new(BlockingConnection(Client::connect_reporting(
            settings, transcript,
        )?)))
    }

    fn connect_stream(
        stream: std::net::TcpStream,
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Box<dyn Connection>, Error> {
        Ok(Box::new(BlockingConnection(Client::from_transport(
            Box::new(stream),
            settings,
            transcript,
        )?)))
    }
}
