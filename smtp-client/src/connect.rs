//! What every client decides before and while it connects: where to
//! connect (the server or its proxy), what to bind, the deadlines, the
//! EHLO name, and the driver for the new connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtpkit_proto::Host;

use crate::driver::{Driver, IoTimeouts};
use crate::error::{Error, TranscriptHook};
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

/// The error for a Unix socket path that cannot be connected: the path
/// named, the kind kept.
pub fn unix_connect_error(path: &std::path::Path, e: std::io::Error) -> std::io::Error {
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
        driver.set_default_from(settings.from.clone());
        Ok(driver)
    }
}
