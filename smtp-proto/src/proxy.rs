//! SOCKS5 (RFC 1928, with RFC 1929 user/password) and HTTP CONNECT
//! handshakes as sans-IO codecs. An adapter connects to the proxy, then
//! alternates [`ProxyHandshake::poll_transmit`] and
//! [`ProxyHandshake::handle_input`] until it reports [`ProxyStatus::Done`],
//! and hands the leftover bytes (the SMTP greeting may come in the same
//! read) to the session.
//!
//! ```
//! use smtpkit_proto::proxy::{ProxyHandshake, ProxyStatus};
//!
//! let mut socks = ProxyHandshake::socks5("mx.example.org", 25, None)?;
//! assert_eq!(socks.poll_transmit().unwrap(), [5, 1, 0]);                 // no-auth only
//! assert_eq!(socks.handle_input(&[5, 0])?, ProxyStatus::NeedMore);
//! let connect = socks.poll_transmit().unwrap();
//! assert_eq!(&connect[..5], &[5, 1, 0, 3, 14]);                           // CONNECT, domain name
//! let status = socks.handle_input(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 25, b'2', b'2', b'0'])?;
//! assert_eq!(status, ProxyStatus::Done { leftover: b"220".to_vec() });
//! # Ok::<(), smtpkit_proto::proxy::ProxyError>(())
//! ```

use std::fmt;
use std::net::IpAddr;

use crate::Secret;
use base64::Engine as _;

/// Why a proxy handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The SOCKS server accepts none of the offered methods (no
    /// authentication, or user/password when configured).
    #[error("the SOCKS5 proxy accepts none of our authentication methods")]
    NoAcceptableMethod,
    /// The SOCKS server wants user/password and none is configured.
    #[error("the SOCKS5 proxy requires a user name and password")]
    CredentialsRequired,
    /// The proxy refused the user name and password.
    #[error("the proxy refused the user name and password")]
    AuthenticationFailed,
    /// The SOCKS server could not connect (RFC 1928 reply code).
    #[error("the SOCKS5 proxy could not connect: {message} (reply {code})")]
    ConnectFailed {
        /// The reply code.
        code: u8,
        /// Its meaning.
        message: &'static str,
    },
    /// The HTTP proxy answered CONNECT with this status.
    #[error(
        "the HTTP proxy refused CONNECT: {status} {}",
        crate::escape_text(reason)
    )]
    HttpStatus {
        /// The status code (407: proxy authentication required).
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The proxy's answer is malformed or too long.
    #[error("malformed proxy reply: {0}")]
    Malformed(&'static str),
    /// The target or credentials cannot be encoded (too long, control
    /// characters).
    #[error("cannot ask the proxy: {0}")]
    Invalid(&'static str),
    /// The proxy closed the connection during the handshake.
    #[error("the proxy closed the connection during the handshake")]
    Closed,
}

/// Progress of a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyStatus {
    /// Send [`ProxyHandshake::poll_transmit`], then read more.
    NeedMore,
    /// The tunnel is open; these bytes already belong to the SMTP server.
    Done {
        /// Bytes after the proxy's reply.
        leftover: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SocksMethod,
    SocksAuth,
    SocksConnect,
    HttpResponse,
    Done,
    Failed,
}

/// One proxy handshake (see the module docs).
pub struct ProxyHandshake {
    state: State,
    host: String,
    port: u16,
    credentials: Option<(String, Secret)>,
    out: Vec<u8>,
    buffer: Vec<u8>,
}

impl fmt::Debug for ProxyHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyHandshake")
            .field("state", &self.state)
            .field("target", &format_args!("{}:{}", self.host, self.port))
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

/// The most an HTTP proxy's response head may take.
const MAX_HTTP_HEAD: usize = 16 * 1024;

fn check_target(host: &str) -> Result<(), ProxyError> {
    if host.is_empty() || host.len() > 255 || host.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return Err(ProxyError::Invalid(
            "the target host must be 1 to 255 printable octets",
        ));
    }
    Ok(())
}

impl ProxyHandshake {
    /// A SOCKS5 CONNECT to `host:port`; the host name is sent to the proxy
    /// (remote DNS). With credentials, user/password (RFC 1929) is offered
    /// besides no authentication.
    ///
    /// # Errors
    /// [`ProxyError::Invalid`] for a host or credentials that cannot be
    /// encoded (over 255 octets).
    pub fn socks5(
        host: &str,
        port: u16,
        credentials: Option<(&str, Secret)>,
    ) -> Result<ProxyHandshake, ProxyError> {
        check_target(host)?;
        if let Some((user, password)) = &credentials
            && (user.is_empty() || user.len() > 255 || password.expose().len() > 255)
        {
            return Err(ProxyError::Invalid(
                "SOCKS5 user and password must be 1 to 255 octets",
            ));
        }
        let out = if credentials.is_some() {
            vec![5, 2, 0, 2]
        } else {
            vec![5, 1, 0]
        };
        Ok(ProxyHandshake {
            state: State::SocksMethod,
            host: host.to_owned(),
            port,
            credentials: credentials.map(|(u, p)| (u.to_owned(), p)),
            out,
            buffer: Vec::new(),
        })
    }

    /// An HTTP CONNECT to `host:port`, with Basic proxy authentication when
    /// credentials are given (`mail.smtp.proxy.user` / `.password`).
    ///
    /// # Errors
    /// [`ProxyError::Invalid`] for a host or user with control characters.
    pub fn http_connect(
        host: &str,
        port: u16,
        credentials: Option<(&str, Secret)>,
    ) -> Result<ProxyHandshake, ProxyError> {
        check_target(host)?;
        let authority = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, password)) = &credentials {
            if user
                .bytes()
                .chain(password.expose().bytes())
                .any(|b| b < 0x20 || b == 0x7f)
                || user.contains(':')
            {
                return Err(ProxyError::Invalid(
                    "proxy user and password must be printable, the user without ':'",
                ));
            }
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", password.expose()));
            request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        request.push_str("\r\n");
        Ok(ProxyHandshake {
            state: State::HttpResponse,
            host: host.to_owned(),
            port,
            credentials: credentials.map(|(u, p)| (u.to_owned(), p)),
            out: request.into_bytes(),
            buffer: Vec::new(),
        })
    }

    /// Bytes to send to the proxy now, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// The proxy closed the connection.
    ///
    /// # Errors
    /// [`ProxyError::Closed`] unless the handshake was done.
    pub fn handle_eof(&mut self) -> Result<(), ProxyError> {
        if self.state == State::Done {
            Ok(())
        } else {
            self.state = State::Failed;
            Err(ProxyError::Closed)
        }
    }

    /// Bytes read from the proxy.
    ///
    /// # Errors
    /// A [`ProxyError`] saying what the proxy refused; the connection must
    /// then be closed.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<ProxyStatus, ProxyError> {
        if self.state == State::Failed {
            return Err(ProxyError::Closed);
        }
        self.buffer.extend_from_slice(data);
        let result = self.advance();
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn advance(&mut self) -> Result<ProxyStatus, ProxyError> {
        loop {
            match self.state {
                State::SocksMethod => {
                    let [version, method, ..] = self.buffer[..] else {
                        return Ok(ProxyStatus::NeedMore);
                    };
                    if version != 5 {
                        return Err(ProxyError::Malformed("not a SOCKS5 reply"));
                    }
                    self.buffer.drain(..2);
                    match (method, &self.credentials) {
                        (0, _) => self.send_connect(),
                        (2, Some((user, password))) => {
                            let mut auth = vec![1, user.len() as u8];
                            auth.extend_from_slice(user.as_bytes());
                            auth.push(password.expose().len() as u8);
                            auth.extend_from_slice(password.expose().as_bytes());
                            self.out = auth;
                            self.state = State::SocksAuth;
                        }
                        (2, None) => return Err(ProxyError::CredentialsRequired),
                        _ => return Err(ProxyError::NoAcceptableMethod),
                    }
                }
                State::SocksAuth => {
                    let [_, status, ..] = self.buffer[..] else {
                        return Ok(ProxyStatus::NeedMore);
                    };
                    self.buffer.drain(..2);
                    if status != 0 {
                        return Err(ProxyError::AuthenticationFailed);
                    }
                    self.send_connect();
                }
                State::SocksConnect => {
                    let [version, reply, _, atyp, ..] = self.buffer[..] else {
                        return Ok(ProxyStatus::NeedMore);
                    };
                    if version != 5 {
                        return Err(ProxyError::Malformed("not a SOCKS5 reply"));
                    }
                    if reply != 0 {
                        return Err(ProxyError::ConnectFailed {
                            code: reply,
                            message: match reply {
                                1 => "general SOCKS server failure",
                                2 => "connection not allowed by ruleset",
                                3 => "network unreachable",
                                4 => "host unreachable",
                                5 => "connection refused",
                                6 => "TTL expired",
                                7 => "command not supported",
                                8 => "address type not supported",
                                _ => "unknown error",
                            },
                        });
                    }
                    let address_len = match atyp {
                        1 => 4,
                        4 => 16,
                        3 => match self.buffer.get(4) {
                            Some(&n) => 1 + usize::from(n),
                            None => return Ok(ProxyStatus::NeedMore),
                        },
                        _ => return Err(ProxyError::Malformed("unknown SOCKS5 address type")),
                    };
                    let total = 4 + address_len + 2;
                    if self.buffer.len() < total {
                        return Ok(ProxyStatus::NeedMore);
                    }
                    self.state = State::Done;
                    let leftover = self.buffer.split_off(total);
                    self.buffer.clear();
                    return Ok(ProxyStatus::Done { leftover });
                }
                State::HttpResponse => {
                    let Some(end) = memchr::memmem::find(&self.buffer, b"\r\n\r\n") else {
                        if self.buffer.len() > MAX_HTTP_HEAD {
                            return Err(ProxyError::Malformed("response head too long"));
                        }
                        return Ok(ProxyStatus::NeedMore);
                    };
                    let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                    let status_line = head.lines().next().unwrap_or_default();
                    let mut parts = status_line.splitn(3, ' ');
                    let version = parts.next().unwrap_or_default();
                    let status: u16 = parts
                        .next()
                        .and_then(|s| s.parse().ok())
                        .filter(|_| version.starts_with("HTTP/1."))
                        .ok_or(ProxyError::Malformed("not an HTTP/1.x status line"))?;
                    if !(200..300).contains(&status) {
                        let reason: String = parts
                            .next()
                            .unwrap_or_default()
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(200)
                            .collect();
                        return Err(ProxyError::HttpStatus { status, reason });
                    }
                    self.state = State::Done;
                    let leftover = self.buffer.split_off(end + 4);
                    self.buffer.clear();
                    return Ok(ProxyStatus::Done { leftover });
                }
                State::Done => {
                    return Ok(ProxyStatus::Done {
                        leftover: std::mem::take(&mut self.buffer),
                    });
                }
                State::Failed => return Err(ProxyError::Closed),
            }
        }
    }

    fn send_connect(&mut self) {
        let mut request = vec![5, 1, 0];
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => {
                request.push(1);
                request.extend_from_slice(&v4.octets());
            }
            Ok(IpAddr::V6(v6)) => {
                request.push(4);
                request.extend_from_slice(&v6.octets());
            }
            Err(_) => {
                // Remote DNS: the proxy resolves the name (checked ≤ 255).
                request.push(3);
                request.push(self.host.len() as u8);
                request.extend_from_slice(self.host.as_bytes());
            }
        }
        request.extend_from_slice(&self.port.to_be_bytes());
        self.out = request;
        self.state = State::SocksConnect;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_with_user_password() {
        let mut h =
            ProxyHandshake::socks5("10.0.0.1", 2525, Some(("bob", Secret::new("pw")))).unwrap();
        assert_eq!(h.poll_transmit().unwrap(), [5, 2, 0, 2]);
        assert_eq!(h.handle_input(&[5, 2]).unwrap(), ProxyStatus::NeedMore);
        assert_eq!(
            h.poll_transmit().unwrap(),
            [1, 3, b'b', b'o', b'b', 2, b'p', b'w']
        );
        assert_eq!(h.handle_input(&[1, 0]).unwrap(), ProxyStatus::NeedMore);
        assert_eq!(
            h.poll_transmit().unwrap(),
            [5, 1, 0, 1, 10, 0, 0, 1, 0x09, 0xdd]
        );
        // A domain-typed reply, split anywhere.
        let reply = [5, 0, 0, 3, 4, b'h', b'o', b's', b't', 0, 25, b'2'];
        for b in &reply[..10] {
            assert_eq!(
                h.handle_input(std::slice::from_ref(b)).unwrap(),
                ProxyStatus::NeedMore
            );
        }
        assert_eq!(
            h.handle_input(&reply[10..]).unwrap(),
            ProxyStatus::Done {
                leftover: b"2".to_vec()
            }
        );
        assert!(!format!("{h:?}").contains("pw"));
    }

    #[test]
    fn socks5_failures_are_named() {
        let mut h =
            ProxyHandshake::socks5("mx.example", 25, Some(("bob", Secret::new("pw")))).unwrap();
        h.poll_transmit();
        h.handle_input(&[5, 2]).unwrap();
        assert_eq!(
            h.handle_input(&[1, 1]),
            Err(ProxyError::AuthenticationFailed)
        );
        let mut h = ProxyHandshake::socks5("mx.example", 25, None).unwrap();
        assert_eq!(
            h.handle_input(&[5, 2]),
            Err(ProxyError::CredentialsRequired)
        );
        let mut h = ProxyHandshake::socks5("mx.example", 25, None).unwrap();
        assert_eq!(
            h.handle_input(&[5, 0xff]),
            Err(ProxyError::NoAcceptableMethod)
        );
        let mut h = ProxyHandshake::socks5("mx.example", 25, None).unwrap();
        h.handle_input(&[5, 0]).unwrap();
        assert!(matches!(
            h.handle_input(&[5, 5, 0, 1]),
            Err(ProxyError::ConnectFailed {
                code: 5,
                message: "connection refused"
            })
        ));
        assert!(ProxyHandshake::socks5(&"x".repeat(256), 25, None).is_err());
        assert!(ProxyHandshake::socks5("a\r\nb", 25, None).is_err());
    }

    #[test]
    fn http_connect() {
        let mut h = ProxyHandshake::http_connect(
            "mx.example",
            587,
            Some(("alice", Secret::new("open sesame"))),
        )
        .unwrap();
        let request = String::from_utf8(h.poll_transmit().unwrap()).unwrap();
        assert_eq!(
            request,
            "CONNECT mx.example:587 HTTP/1.1\r\nHost: mx.example:587\r\nProxy-Authorization: Basic YWxpY2U6b3BlbiBzZXNhbWU=\r\n\r\n"
        );
        assert_eq!(
            h.handle_input(b"HTTP/1.1 200 Connection established\r\nVia: x\r\n")
                .unwrap(),
            ProxyStatus::NeedMore
        );
        assert_eq!(
            h.handle_input(b"\r\n220 mx ESMTP\r\n").unwrap(),
            ProxyStatus::Done {
                leftover: b"220 mx ESMTP\r\n".to_vec()
            }
        );
        let mut h = ProxyHandshake::http_connect("::1", 25, None).unwrap();
        assert!(
            String::from_utf8(h.poll_transmit().unwrap())
                .unwrap()
                .starts_with("CONNECT [::1]:25 HTTP/1.1")
        );
        assert_eq!(
            h.handle_input(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            Err(ProxyError::HttpStatus {
                status: 407,
                reason: "Proxy Authentication Required".into()
            })
        );
        let mut h = ProxyHandshake::http_connect("mx.example", 25, None).unwrap();
        assert_eq!(
            h.handle_input(&vec![b'x'; MAX_HTTP_HEAD + 1]),
            Err(ProxyError::Malformed("response head too long"))
        );
        let mut h = ProxyHandshake::http_connect("mx.example", 25, None).unwrap();
        assert!(matches!(
            h.handle_input(b"SMTP/1.0 200 ok\r\n\r\n"),
            Err(ProxyError::Malformed(_))
        ));
    }
}
