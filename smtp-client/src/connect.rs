//! What every client decides before and while it connects: where to
//! connect (the server or its proxy), what to bind, the deadlines, the
//! EHLO name, and the driver for the new connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtpkit_proto::Host;

use crate::driver::{Driver, IoTimeouts};
use crate::error::{Error, TranscriptHook, timed_out};
use crate::settings::ClientSettings;

/// A duration that may be "forever" (`Duration::MAX`, from a property of 0
/// or less) as an optional one.
pub fn finite(d: Duration) -> Option<Duration> {
    (d != Duration::MAX).then_some(d)
}

/// Where and how to open the TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectPlan {
    /// The host to resolve and connect to: the proxy's when there is one.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `mail.smtp.localaddress`, to resolve (with port 0) before binding.
    pub local_address: Option<String>,
    /// `mail.smtp.localport`.
    pub local_port: Option<u16>,
    /// The whole connect (every address tried) must finish by then.
    pub deadline: Option<Instant>,
    /// Connect to this Unix domain socket instead (`host` and `port` are
    /// then the server's, unused for the connection).
    pub unix_socket: Option<std::path::PathBuf>,
}

impl ConnectPlan {
    /// The plan for `settings`, starting at `now`.
    pub fn new(settings: &ClientSettings, now: Instant) -> ConnectPlan {
        let (host, port) = match settings.effective_proxy() {
            Some(p) => (p.host, p.port),
            None => (settings.host.clone(), settings.port()),
        };
        ConnectPlan {
            host,
            port,
            local_address: settings.local_address.clone(),
            local_port: settings.local_port,
            deadline: finite(settings.connect_timeout).map(|t| now + t),
            unix_socket: settings.unix_socket.clone(),
        }
    }

    /// The local address to bind before connecting to `remote` (`None`:
    /// let the system choose), given `local_ip`, the resolved
    /// `local_address`. A port without an address binds the unspecified
    /// address of `remote`'s family.
    pub fn bind_for(&self, local_ip: Option<IpAddr>, remote: SocketAddr) -> Option<SocketAddr> {
        if local_ip.is_none() && self.local_port.is_none() {
            return None;
        }
        let ip = local_ip.unwrap_or(match remote {
            SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        Some(SocketAddr::new(ip, self.local_port.unwrap_or(0)))
    }

    /// The error when `host` resolved to no address at all.
    pub fn nothing_resolved(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} resolves to nothing", self.host),
        )
    }

    /// The error when `local_address` resolved to nothing.
    pub fn local_not_found(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "local address {} not found",
                self.local_address.as_deref().unwrap_or("")
            ),
        )
    }
}

/// What a client's connect loop does next ([`Connector::next`]).
#[derive(Debug)]
pub enum ConnectStep<'a> {
    /// Resolve `host` (with `port`); then [`Connector::on_resolved`].
    Resolve {
        /// The name.
        host: &'a str,
        /// The port the addresses get.
        port: u16,
    },
    /// Connect to `addr`, binding `bind` first when given, giving up at
    /// `deadline`; a stream is the loop's result, an error goes to
    /// [`Connector::on_failed`].
    Tcp {
        /// The address.
        addr: SocketAddr,
        /// The local address to bind.
        bind: Option<SocketAddr>,
        /// When to give up.
        deadline: Option<Instant>,
    },
    /// Connect to the Unix domain socket at `path`, giving up at
    /// `deadline`; an error goes to [`Connector::on_failed`].
    Unix {
        /// The socket.
        path: &'a std::path::Path,
        /// When to give up.
        deadline: Option<Instant>,
    },
    /// No connection can be made: why.
    Failed(Error),
}

/// The connect loop, sans-IO: resolves the local address to bind (when
/// `mail.smtp.localaddress` is set), then the server's (or the proxy's)
/// name, and tries its addresses in order until one connects, within the
/// one deadline of the whole connect (`mail.smtp.connectiontimeout`); a
/// Unix domain socket is one attempt with the same deadline. Every client
/// performs its steps with its own I/O:
///
/// ```text
/// let mut connector = Connector::new(&settings, now());
/// let stream = loop {
///     match connector.next(now()) {
///         ConnectStep::Resolve { host, port } => connector.on_resolved(resolve(host, port)),
///         ConnectStep::Tcp { addr, bind, deadline } => match connect(addr, bind, deadline) {
///             Ok(stream) => break stream,
///             Err(e) => connector.on_failed(e),
///         },
///         ConnectStep::Unix { path, deadline } => ..., // the same
///         ConnectStep::Failed(error) => return Err(error),
///     }
/// };
/// ```
#[derive(Debug)]
pub struct Connector {
    plan: ConnectPlan,
    /// The resolved local address, once asked for.
    local_ip: Option<Option<IpAddr>>,
    /// The server's addresses left to try, once resolved.
    addrs: Option<std::vec::IntoIter<SocketAddr>>,
    /// Why the last attempt failed.
    last: Option<std::io::Error>,
    failed: Option<Error>,
}

impl Connector {
    /// The connect `settings` describe, starting at `now`.
    pub fn new(settings: &ClientSettings, now: Instant) -> Connector {
        Connector::for_plan(ConnectPlan::new(settings, now))
    }

    /// The connect `plan` describes.
    pub fn for_plan(plan: ConnectPlan) -> Connector {
        let local_ip = plan.local_address.is_none().then_some(None);
        Connector {
            plan,
            local_ip,
            addrs: None,
            last: None,
            failed: None,
        }
    }

    /// What to do next, at `now`.
    pub fn next(&mut self, now: Instant) -> ConnectStep<'_> {
        if let Some(error) = self.failed.take() {
            return ConnectStep::Failed(error);
        }
        let deadline = self.plan.deadline;
        if deadline.is_some_and(|d| d <= now) {
            return ConnectStep::Failed(Error::Io(timed_out("connect")));
        }
        if let Some(path) = &self.plan.unix_socket {
            return match self.last.take() {
                Some(e) => ConnectStep::Failed(Error::Io(unix_connect_error(path, e))),
                None => ConnectStep::Unix { path, deadline },
            };
        }
        let Some(local_ip) = self.local_ip else {
            let host = self.plan.local_address.as_deref().unwrap_or_default();
            return ConnectStep::Resolve { host, port: 0 };
        };
        let Some(addrs) = &mut self.addrs else {
            return ConnectStep::Resolve {
                host: &self.plan.host,
                port: self.plan.port,
            };
        };
        match addrs.next() {
            Some(addr) => ConnectStep::Tcp {
                addr,
                bind: self.plan.bind_for(local_ip, addr),
                deadline,
            },
            None => ConnectStep::Failed(Error::Io(
                self.last
                    .take()
                    .unwrap_or_else(|| self.plan.nothing_resolved()),
            )),
        }
    }

    /// The addresses the last [`ConnectStep::Resolve`] gave, or why it
    /// failed.
    pub fn on_resolved(&mut self, result: std::io::Result<Vec<SocketAddr>>) {
        let addrs = match result {
            Ok(addrs) => addrs,
            Err(e) => {
                self.failed = Some(Error::Io(e));
                return;
            }
        };
        if self.local_ip.is_none() {
            match addrs.first() {
                Some(a) => self.local_ip = Some(Some(a.ip())),
                None => self.failed = Some(Error::Io(self.plan.local_not_found())),
            }
        } else {
            self.addrs = Some(addrs.into_iter());
        }
    }

    /// The last [`ConnectStep::Tcp`] or [`ConnectStep::Unix`] failed: the
    /// next address is tried (a timeout ends the connect).
    pub fn on_failed(&mut self, error: std::io::Error) {
        self.last = Some(error);
    }
}

/// The error for a Unix socket path that cannot be connected: the path
/// named, the kind kept.
pub(crate) fn unix_connect_error(path: &std::path::Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The EHLO name for a connection from `local_ip`: `mail.smtp.localhost`,
/// else the host name, else an address literal of the local address.
pub fn ehlo_name(settings: &ClientSettings, local_ip: Option<IpAddr>) -> Host {
    settings.local_name.clone().unwrap_or_else(|| {
        let hostname = gethostname::gethostname();
        smtpkit_proto::default_ehlo_name(hostname.to_str(), local_ip)
    })
}

/// The timeouts of the I/O around the session: writes
/// (`mail.smtp.writetimeout`) and the proxy handshake (the connect
/// timeout, else the command timeout).
pub fn io_timeouts(settings: &ClientSettings) -> IoTimeouts {
    IoTimeouts::new(
        finite(settings.write_timeout),
        finite(settings.connect_timeout).or(finite(settings.session.timeouts.command)),
    )
}

impl Driver {
    /// The driver for a stream the caller connected (a tunnel, a pipe, a
    /// socket of their own), as `settings` describe. Every client decides
    /// its default EHLO name here: `mail.smtp.localhost`, else the host
    /// name; the stream's local address is not asked for, since a
    /// caller's stream may have none, or one that means nothing to the
    /// server (a tunnel's end).
    ///
    /// # Errors
    /// As [`for_settings`](Self::for_settings).
    pub fn for_stream(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
        now: Instant,
    ) -> Result<Driver, Error> {
        Driver::for_settings(settings, None, transcript, now)
    }

    /// The driver for a TCP connection to the server (or its proxy) made
    /// at `now` from `local_ip`, as `settings` describe: the proxy
    /// handshake when a proxy is configured, then the session.
    ///
    /// # Errors
    /// [`Error::TlsConfig`] for unusable TLS settings, [`Error::AuthConfig`]
    /// for a SASL mechanism this build left out, [`Error::Proxy`] for an
    /// unusable proxy target.
    pub fn for_settings(
        settings: &ClientSettings,
        local_ip: Option<IpAddr>,
        transcript: Option<TranscriptHook>,
        now: Instant,
    ) -> Result<Driver, Error> {
        if let Some(chooser) = settings.chooser() {
            chooser.check().map_err(Error::AuthConfig)?;
        }
        let mut config = settings
            .session_config(ehlo_name(settings, local_ip))
            .map_err(Error::TlsConfig)?;
        config.options.transcript |= transcript.is_some();
        let proxy = match settings.effective_proxy() {
            Some(p) => Some(p.handshake(&settings.host, settings.port())?),
            None => None,
        };
        let mut driver = Driver::new(
            Arc::new(config),
            proxy,
            io_timeouts(settings),
            transcript,
            &[],
            now,
        );
        driver.set_message_options(crate::message::MessageOptions::of(settings));
        Ok(driver)
    }
}

#[cfg(test)]
// A test needs a starting instant; everything after it is virtual.
#[allow(clippy::disallowed_methods, clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io;

    fn settings() -> ClientSettings {
        let mut s = ClientSettings::dangerous_plaintext("mx.example");
        s.port = Some(2525);
        s.connect_timeout = Duration::from_secs(10);
        s
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn resolves_the_local_address_first_then_tries_each_server_address() {
        let now = Instant::now();
        let mut s = settings();
        s.local_address = Some("client.example".into());
        let mut c = Connector::new(&s, now);
        assert!(matches!(
            c.next(now),
            ConnectStep::Resolve {
                host: "client.example",
                port: 0
            }
        ));
        c.on_resolved(Ok(vec![addr("192.0.2.9:0")]));
        assert!(matches!(
            c.next(now),
            ConnectStep::Resolve {
                host: "mx.example",
                port: 2525
            }
        ));
        c.on_resolved(Ok(vec![addr("192.0.2.1:2525"), addr("192.0.2.2:2525")]));
        let ConnectStep::Tcp {
            addr: first,
            bind,
            deadline,
        } = c.next(now)
        else {
            panic!()
        };
        assert_eq!(
            (first, bind),
            (addr("192.0.2.1:2525"), Some(addr("192.0.2.9:0")))
        );
        assert_eq!(deadline, Some(now + Duration::from_secs(10)));
        c.on_failed(io::ErrorKind::ConnectionRefused.into());
        let ConnectStep::Tcp { addr: second, .. } = c.next(now) else {
            panic!()
        };
        assert_eq!(second, addr("192.0.2.2:2525"));
        c.on_failed(io::ErrorKind::HostUnreachable.into());
        // Every address failed: the last one's error.
        let ConnectStep::Failed(Error::Io(e)) = c.next(now) else {
            panic!()
        };
        assert_eq!(e.kind(), io::ErrorKind::HostUnreachable);
    }

    #[test]
    fn the_deadline_covers_the_whole_connect() {
        let now = Instant::now();
        let mut c = Connector::new(&settings(), now);
        c.on_resolved(Ok(vec![addr("192.0.2.1:2525"), addr("192.0.2.2:2525")]));
        assert!(matches!(c.next(now), ConnectStep::Tcp { .. }));
        c.on_failed(timed_out("connect"));
        let later = now + Duration::from_secs(10);
        let ConnectStep::Failed(Error::Io(e)) = c.next(later) else {
            panic!()
        };
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn nothing_resolved_and_no_local_address_are_named() {
        let now = Instant::now();
        let mut c = Connector::new(&settings(), now);
        c.on_resolved(Ok(Vec::new()));
        let ConnectStep::Failed(e) = c.next(now) else {
            panic!()
        };
        assert!(e.chain().contains("mx.example resolves to nothing"), "{e}");
        let mut s = settings();
        s.local_address = Some("nowhere.example".into());
        let mut c = Connector::new(&s, now);
        c.on_resolved(Ok(Vec::new()));
        let ConnectStep::Failed(e) = c.next(now) else {
            panic!()
        };
        assert!(e.chain().contains("nowhere.example"), "{e}");
    }

    #[test]
    fn a_unix_socket_is_one_attempt_with_the_same_deadline_and_its_error_names_it() {
        let now = Instant::now();
        let mut s = settings();
        s.unix_socket = Some("/run/lmtp.sock".into());
        let mut c = Connector::new(&s, now);
        let ConnectStep::Unix { path, deadline } = c.next(now) else {
            panic!()
        };
        assert_eq!(
            (path, deadline),
            (
                std::path::Path::new("/run/lmtp.sock"),
                Some(now + Duration::from_secs(10))
            )
        );
        c.on_failed(io::ErrorKind::NotFound.into());
        let ConnectStep::Failed(e) = c.next(now) else {
            panic!()
        };
        assert!(e.chain().contains("/run/lmtp.sock"), "{e}");
    }
}
