//! # smtpkit-testserver: an in-process, scriptable SMTP server
//!
//! For tests, demos and benchmarks, whatever runtime the client uses: the
//! server runs on its own threads over `std::net`, on a loopback port.
//! It reads commands with `smtp-proto`'s server direction and answers with
//! byte literals (so an encoder bug mirrored in the client's parser cannot
//! hide), records every transaction (envelope and the exact content after
//! un-stuffing), and can be scripted: extensions offered, replies per
//! command or recipient, delays, hangs and disconnects at chosen points.
//! Sink mode answers as fast as it can and keeps only counts.
//!
//! ```
//! use smtpkit_testserver::{Action, Script, TestServer, When};
//! use std::io::{BufRead, BufReader, Write};
//!
//! let server = TestServer::start(
//!     Script::new().rule(When::RcptTo("bad@example.org".into()), Action::reply("550 5.1.1 no such user\r\n")),
//! )?;
//! let mut stream = std::net::TcpStream::connect(server.addr())?;
//! stream.write_all(b"EHLO me\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bad@example.org>\r\n\
//!     RCPT TO:<ok@example.org>\r\nDATA\r\n")?;
//! stream.write_all(b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n")?;
//! let replies: Vec<String> = BufReader::new(stream).lines().map(Result::unwrap).collect();
//! assert!(replies.contains(&"550 5.1.1 no such user".to_owned()));
//! assert_eq!(replies.last().unwrap(), "221 2.0.0 Bye");
//! let t = &server.transactions()[0];
//! assert_eq!(t.rcpt_to, ["ok@example.org"]);
//! assert_eq!(t.data, b"Subject: hi\r\n\r\n.dot\r\n");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## A downstream test
//!
//! Code that sends mail, tested against the server: script a refusal, send,
//! and assert both the report and what the server stored.
//!
//! ```
//! use smtpkit_blocking::{Body, Client, ClientSettings};
//! use smtpkit_testserver::{Action, Script, TestServer, When};
//!
//! let server = TestServer::start(Script::new().rule(
//!     When::RcptTo("bad@example.org".into()),
//!     Action::reply("550 5.1.1 no such user\r\n"),
//! ))?;
//! let mut settings = ClientSettings::dangerous_plaintext("127.0.0.1");
//! settings.port = Some(server.addr().port());
//! settings.session.send_partial = true;
//! let mut client = Client::connect(&settings)?;
//! let report = client.send_message(Body::Bytes(
//!     b"From: a@example.org\r\nTo: ok@example.org, bad@example.org\r\n\r\nHi.\r\n",
//! ))?;
//! client.close()?;
//! let (refused, reply) = report.rejected().next().unwrap();
//! assert_eq!((refused.as_str(), reply.code().get()), ("bad@example.org", 550));
//! let stored = &server.transactions()[0];
//! assert_eq!(stored.rcpt_to, ["ok@example.org"]);
//! assert!(stored.data.ends_with(b"\r\n\r\nHi.\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! None. The server links smtp-proto (its server direction), rustls (with
//! `ring`) and rcgen, and serves every SASL mechanism, legacy ones
//! included; it does not link any client crate. The suites the project's
//! clients run against it (conformance and interop) are in the
//! unpublished `smtp-suites` crate.

// The README's example, compiled with the doctests so that it stays right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use smtpkit_proto::{Command, DataDecoder, ForwardPath, ReversePath};

mod auth;
mod chaos;
mod proxy;
mod tls;

pub use chaos::{Chaos, Fault};
pub use proxy::{ProxyProtocol, TestProxy, TlsInterceptor};

/// The rustls the test server uses (for `Script::starttls` / `implicit_tls` configs).
pub use rustls;
pub use tls::TestCa;

/// When a rule applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Instead of the greeting.
    Connect,
    /// A command, by verb (`"EHLO"`, `"MAIL"`, `"RCPT"`, `"DATA"`, `"BDAT"`,
    /// `"RSET"`, `"NOOP"`, `"QUIT"`, `"HELO"`, `"STARTTLS"`, `"AUTH"`, …).
    Command(&'static str),
    /// RCPT for this address (case-insensitive).
    RcptTo(String),
    /// The n-th RCPT of a transaction (0-based) and every one after it: a
    /// "452 too many recipients after N" rule.
    RcptFrom(usize),
    /// The end of data (the final `.`, or BDAT LAST).
    EndOfData,
    /// The reply for this recipient after the data, in LMTP mode
    /// ([`Script::lmtp`]) or a PRDR transaction ([`Script::prdr`]).
    DataFor(String),
    /// After this many octets of message content have arrived.
    DataBytes(usize),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer with exactly these bytes.
    Reply(Vec<u8>),
    /// Wait, then answer as usual (or as a later rule says).
    Delay(Duration),
    /// Close the connection without answering.
    Disconnect,
    /// Never answer again; read and discard until the client leaves.
    Hang,
}

impl Action {
    /// [`Action::Reply`] from a string.
    pub fn reply(text: &str) -> Action {
        Action::Reply(text.as_bytes().to_vec())
    }
}

/// What [`TestServer::commands`] records when a strict server
/// ([`Script::strict_pipelining`]) caught a command written early.
pub const PIPELINING_VIOLATION: &str = "<command written before the previous reply>";

/// A scripted behaviour.
#[derive(Debug, Clone)]
pub struct Rule {
    /// When it applies.
    pub when: When,
    /// What it does.
    pub action: Action,
    /// How many times it applies (every time when `None`).
    pub times: Option<usize>,
}

/// The server's behaviour.
#[derive(Debug, Clone)]
pub struct Script {
    /// The name in the greeting and EHLO reply.
    pub hostname: String,
    /// The EHLO extension lines, in order.
    pub extensions: Vec<String>,
    /// Scripted replies and faults, first match wins.
    pub rules: Vec<Rule>,
    /// Sink mode: keep counts only, not transactions or commands.
    pub sink: bool,
    /// Longest command line accepted.
    pub max_line_len: usize,
    /// SASL mechanisms offered in an `AUTH` EHLO line (none: no AUTH).
    pub auth_mechanisms: Vec<String>,
    /// Users and passwords (or tokens) AUTH accepts.
    pub users: Vec<(String, String)>,
    /// Refuse MAIL with 530 until the client has authenticated.
    pub require_auth: bool,
    /// Offer STARTTLS with this configuration.
    pub starttls: Option<Arc<rustls::ServerConfig>>,
    /// Speak TLS from the first byte (smtps) with this configuration.
    pub implicit_tls: Option<Arc<rustls::ServerConfig>>,
    /// Without PIPELINING offered, a command that arrives before the reply
    /// to the previous one was written is answered `500 5.5.1 Invalid
    /// command: Pipelining not supported` and the connection dropped, as
    /// strict servers do (RFC 2920 §3).
    pub strict_pipelining: bool,
    /// LMTP (RFC 2033): LHLO instead of EHLO/HELO, and one reply per
    /// accepted recipient after the data.
    pub lmtp: bool,
    /// Faults at random ([`Script::chaos`]).
    pub chaos: Option<Chaos>,
    /// Record every command line ([`TestServer::commands`]); off for long
    /// soaks, whose memory must not grow with the commands.
    pub log_commands: bool,
    /// Refused chunks are not discarded ([`Script::chunks_not_discarded`]).
    pub chunks_not_discarded: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script::new()
    }
}

impl Script {
    /// PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN, CHUNKING
    /// and SIZE 104857600.
    pub fn new() -> Script {
        Script {
            hostname: "testkit.invalid".into(),
            extensions: [
                "PIPELINING",
                "SIZE 104857600",
                "8BITMIME",
                "SMTPUTF8",
                "ENHANCEDSTATUSCODES",
                "DSN",
                "CHUNKING",
            ]
            .map(String::from)
            .to_vec(),
            rules: Vec::new(),
            sink: false,
            max_line_len: 4096,
            auth_mechanisms: Vec::new(),
            users: Vec::new(),
            require_auth: false,
            starttls: None,
            implicit_tls: None,
            strict_pipelining: false,
            lmtp: false,
            chaos: None,
            log_commands: true,
            chunks_not_discarded: false,
        }
    }

    /// Injects faults at random, at these rates, repeatably from the seed
    /// (see [`Chaos`]); [`TestServer::faults`] counts them. Every message
    /// stored is in [`TestServer::transactions`], with an empty `reply`
    /// when the server dropped before acknowledging it.
    pub fn chaos(mut self, chaos: Chaos) -> Script {
        self.chaos = Some(chaos);
        self
    }

    /// Does not read the octets of a BDAT chunk it refuses for want of a
    /// transaction (MAIL refused or never given, or no recipient
    /// accepted): they are read as commands, each line answered (and
    /// recorded in [`TestServer::commands`]) as any other. Dovecot 2.3's
    /// submission service (before AUTH) and go-smtp's server behave so,
    /// against RFC 3030, which requires the chunk to be read and
    /// discarded; a client that writes a chunk before its transaction was
    /// accepted has the message's lines run as commands. The refusal is
    /// `530 5.7.0 Authentication required` while AUTH is required and
    /// not done, else `503 5.5.1 Error: need MAIL command` /
    /// `554 5.5.1 Error: no valid recipients`.
    pub fn chunks_not_discarded(mut self) -> Script {
        self.chunks_not_discarded = true;
        self
    }

    /// Keeps no command log (see [`Script::log_commands`]).
    pub fn without_command_log(mut self) -> Script {
        self.log_commands = false;
        self
    }

    /// Speaks LMTP: answers LHLO (EHLO and HELO are refused) and, after
    /// the data, replies once per accepted recipient (`250 2.0.0 <addr>
    /// delivered`, or a [`When::DataFor`] rule's reply); the transaction
    /// records the recipients that got a 2xx.
    pub fn lmtp(mut self) -> Script {
        self.lmtp = true;
        self
    }

    /// Offers PRDR: a `MAIL … PRDR` transaction is answered after the data
    /// with `353`, one reply per accepted recipient (as in LMTP mode) and a
    /// final reply (`250` when anyone accepted it, else `550`).
    pub fn prdr(mut self) -> Script {
        self.extensions.push("PRDR".into());
        self
    }

    /// Refuses early commands when PIPELINING is not offered (see
    /// [`Script::strict_pipelining`]); the refusal is recorded among the
    /// commands as [`PIPELINING_VIOLATION`].
    pub fn strict_pipelining(mut self) -> Script {
        self.strict_pipelining = true;
        self
    }

    /// Offers STARTTLS with the test CA's certificate.
    ///
    /// # Errors
    /// When the certificate does not load.
    pub fn starttls(mut self, ca: &TestCa) -> io::Result<Script> {
        self.starttls = Some(ca.server_config(&[])?);
        Ok(self)
    }

    /// Speaks TLS from the first byte (smtps) with the test CA's
    /// certificate.
    ///
    /// # Errors
    /// When the certificate does not load.
    pub fn implicit_tls(mut self, ca: &TestCa) -> io::Result<Script> {
        self.implicit_tls = Some(ca.server_config(&[])?);
        Ok(self)
    }

    /// Offers AUTH with these mechanisms (PLAIN, LOGIN, CRAM-MD5, XOAUTH2,
    /// OAUTHBEARER, ANONYMOUS, EXTERNAL, SCRAM-SHA-1, SCRAM-SHA-256,
    /// SCRAM-SHA-1-PLUS, SCRAM-SHA-256-PLUS, DIGEST-MD5, NTLM) for these
    /// users, and requires it before MAIL. The -PLUS ones need TLS: the
    /// server checks the client's channel binding against its own end
    /// (`tls-exporter` on TLS 1.3, `tls-server-end-point` on either).
    pub fn auth<S: Into<String>>(
        mut self,
        mechanisms: impl IntoIterator<Item = S>,
        users: &[(&str, &str)],
    ) -> Script {
        self.auth_mechanisms = mechanisms.into_iter().map(Into::into).collect();
        self.users = users
            .iter()
            .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
            .collect();
        self.require_auth = true;
        self
    }

    /// Replaces the EHLO extensions.
    pub fn extensions<S: Into<String>>(
        mut self,
        extensions: impl IntoIterator<Item = S>,
    ) -> Script {
        self.extensions = extensions.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a rule that always applies.
    pub fn rule(mut self, when: When, action: Action) -> Script {
        self.rules.push(Rule {
            when,
            action,
            times: None,
        });
        self
    }

    /// Adds a rule that applies `times` times.
    pub fn rule_times(mut self, when: When, action: Action, times: usize) -> Script {
        self.rules.push(Rule {
            when,
            action,
            times: Some(times),
        });
        self
    }

    /// Sink mode.
    pub fn sink(mut self) -> Script {
        self.sink = true;
        self
    }
}

/// A transaction the server accepted or refused after its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The reverse path without brackets (empty for `<>`).
    pub mail_from: String,
    /// The MAIL parameters as received (`SIZE=…`, `BODY=…`).
    pub mail_params: Vec<String>,
    /// The accepted recipients.
    pub rcpt_to: Vec<String>,
    /// The content after un-stuffing (with the CRLF before the final dot),
    /// or the concatenated BDAT chunks.
    pub data: Vec<u8>,
    /// Whether it came by BDAT.
    pub bdat: bool,
    /// The server's final reply.
    pub reply: String,
}

#[derive(Default)]
struct Shared {
    transactions: Vec<Transaction>,
    commands: Vec<String>,
    authentications: Vec<(String, String)>,
}

struct State {
    script: Script,
    shared: Mutex<Shared>,
    rule_uses: Vec<AtomicUsize>,
    connections: AtomicUsize,
    messages: AtomicU64,
    octets: AtomicU64,
    shutdown: AtomicBool,
    faults: chaos::Counters,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panicking connection thread must not hide the others' records.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first rule matching `matches` that has uses left.
    fn take_rule(&self, matches: impl Fn(&When) -> bool) -> Option<Action> {
        for (i, rule) in self.script.rules.iter().enumerate() {
            if !matches(&rule.when) {
                continue;
            }
            let used = self.rule_uses[i].fetch_add(1, Ordering::SeqCst);
            if rule.times.is_none_or(|t| used < t) {
                return Some(rule.action.clone());
            }
        }
        None
    }
}

/// A running test server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
    unix: Mutex<Vec<std::path::PathBuf>>,
}

impl TestServer {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    /// When the listening socket cannot be made.
    pub fn start(script: Script) -> io::Result<TestServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            rule_uses: script.rules.iter().map(|_| AtomicUsize::new(0)).collect(),
            script,
            shared: Mutex::new(Shared::default()),
            connections: AtomicUsize::new(0),
            messages: AtomicU64::new(0),
            octets: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            faults: chaos::Counters::default(),
        });
        let accept_state = Arc::clone(&state);
        let accept = std::thread::Builder::new()
            .name("smtp-testkit-accept".into())
            .spawn(move || accept_loop(&listener, &accept_state))?;
        Ok(TestServer {
            addr,
            state,
            accept: Some(accept),
            unix: Mutex::new(Vec::new()),
        })
    }

    /// Also listens on a Unix domain socket at `path` (as LMTP servers
    /// do): each connection there is relayed to the server's TCP port.
    /// The socket file is removed when the server stops.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    #[cfg(unix)]
    pub fn listen_unix(&self, path: &std::path::Path) -> io::Result<()> {
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        let target = self.addr;
        let state = Arc::clone(&self.state);
        std::thread::Builder::new()
            .name("smtp-testkit-unix".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if state.shutdown.load(Ordering::SeqCst) {
                        return;
                    }
                    let (Ok(client), Ok(server)) = (client, TcpStream::connect(target)) else {
                        continue;
                    };
                    let _ = server.set_nodelay(true);
                    relay(client, server);
                }
            })?;
        self.unix
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(path.to_owned());
        Ok(())
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every transaction that reached its end of data, in order.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.state.lock().transactions.clone()
    }

    /// Removes and returns the transactions recorded so far (a long soak
    /// drains them as it goes, so that the record stays small).
    pub fn take_transactions(&self) -> Vec<Transaction> {
        std::mem::take(&mut self.state.lock().transactions)
    }

    /// Every command line received (AUTH responses excluded), in order.
    pub fn commands(&self) -> Vec<String> {
        self.state.lock().commands.clone()
    }

    /// How many commands exactly `line` (`"NOOP"`, `"QUIT"`) arrived.
    pub fn count(&self, line: &str) -> usize {
        self.state
            .lock()
            .commands
            .iter()
            .filter(|c| c.as_str() == line)
            .count()
    }

    /// [`count`](Self::count), after waiting up to a second for it to reach
    /// `expected`: a QUIT the client does not wait a reply for (a failed
    /// session, a pool retiring a connection) is read a moment later.
    pub fn count_eventually(&self, line: &str, expected: usize) -> usize {
        for _ in 0..100 {
            if self.count(line) >= expected {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.count(line)
    }

    /// Successful authentications, as `(mechanism, user)`.
    pub fn authentications(&self) -> Vec<(String, String)> {
        self.state.lock().authentications.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Messages accepted (also counted in sink mode).
    pub fn messages(&self) -> u64 {
        self.state.messages.load(Ordering::SeqCst)
    }

    /// The faults injected so far in chaos mode, by kind.
    pub fn faults(&self) -> Vec<(Fault, u64)> {
        self.state.faults.snapshot()
    }

    /// Octets of message content accepted (also counted in sink mode).
    pub fn octets(&self) -> u64 {
        self.state.octets.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.state.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loops.
        let _ = TcpStream::connect(self.addr);
        #[cfg(unix)]
        for path in self
            .unix
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = std::os::unix::net::UnixStream::connect(&path);
            let _ = std::fs::remove_file(&path);
        }
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

/// Copies both ways between a Unix socket client and the TCP server until
/// either side closes.
#[cfg(unix)]
fn relay(client: std::os::unix::net::UnixStream, server: TcpStream) {
    let (Ok(mut client_read), Ok(mut server_read)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (mut client_write, mut server_write) = (client, server);
    let _ = std::thread::Builder::new()
        .name("smtp-testkit-relay".into())
        .spawn(move || {
            let _ = io::copy(&mut client_read, &mut server_write);
            let _ = server_write.shutdown(std::net::Shutdown::Write);
        });
    let _ = std::thread::Builder::new()
        .name("smtp-testkit-relay".into())
        .spawn(move || {
            let _ = io::copy(&mut server_read, &mut client_write);
            let _ = client_write.shutdown(std::net::Shutdown::Write);
        });
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>) {
    for stream in listener.incoming() {
        if state.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = Arc::clone(state);
        let _ = std::thread::Builder::new()
            .name("smtp-testkit-conn".into())
            .spawn(move || {
                let _ = Connection::new(stream, state).run();
            });
    }
}

enum Mode {
    Command,
    Data(DataDecoder),
    Bdat {
        remaining: u64,
        last: bool,
        replied: bool,
    },
    Hang,
    Auth(Box<auth::Exchange>, String),
}

struct Envelope {
    from: String,
    prdr: bool,
    params: Vec<String>,
    rcpts: Vec<String>,
    rcpt_count: usize,
    data: Vec<u8>,
    bdat: bool,
}

#[derive(PartialEq, Eq)]
enum Step {
    Continue,
    Close,
    StartTls,
}

struct Connection {
    stream: tls::Stream,
    tls_active: bool,
    state: Arc<State>,
    input: Vec<u8>,
    output: Vec<u8>,
    mode: Mode,
    envelope: Option<Envelope>,
    data_octets: usize,
    queued: u64,
    authenticated: bool,
    rng: Option<chaos::Rng>,
    /// Chaos: the connection drops once this much content has arrived.
    cut_at: Option<usize>,
}

impl Connection {
    fn new(stream: TcpStream, state: Arc<State>) -> Connection {
        let index = state.connections.load(Ordering::SeqCst) as u64;
        let rng = state
            .script
            .chaos
            .as_ref()
            .map(|c| chaos::Rng::new(c.seed, index));
        Connection {
            rng,
            cut_at: None,
            stream: tls::Stream::Plain(stream),
            tls_active: false,
            state,
            input: Vec::with_capacity(64 * 1024),
            output: Vec::with_capacity(4096),
            mode: Mode::Command,
            envelope: None,
            data_octets: 0,
            queued: 0,
            authenticated: false,
        }
    }

    fn run(mut self) -> io::Result<()> {
        self.stream.tcp().set_nodelay(true)?;
        self.stream
            .tcp()
            .set_read_timeout(Some(Duration::from_secs(60)))?;
        if let Some(config) = self.state.script.implicit_tls.clone() {
            let placeholder = tls::Stream::Plain(self.stream.tcp().try_clone()?);
            self.stream = std::mem::replace(&mut self.stream, placeholder).upgrade(&config)?;
            self.tls_active = true;
        }
        let greeting = format!("220 {} ESMTP smtp-testkit\r\n", self.state.script.hostname);
        if let Step::Close = self.respond(|w| *w == When::Connect, greeting.as_bytes())? {
            return self.close();
        }
        self.flush()?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Mode::Hang = self.mode {
                continue;
            }
            self.input.extend_from_slice(&buf[..n]);
            let step = self.process()?;
            self.flush()?;
            match step {
                Step::Close => return self.close(),
                Step::StartTls => {
                    if let Some(config) = self.state.script.starttls.clone() {
                        let placeholder = tls::Stream::Plain(self.stream.tcp().try_clone()?);
                        let plain = std::mem::replace(&mut self.stream, placeholder);
                        self.stream = plain.upgrade(&config)?;
                        self.tls_active = true;
                        // Anything the client pipelined after STARTTLS is
                        // discarded, never acted on (CVE-2011-0411).
                        self.input.clear();
                        self.envelope = None;
                        self.authenticated = false;
                    }
                }
                Step::Continue => {}
            }
        }
    }

    fn close(&mut self) -> io::Result<()> {
        self.flush()?;
        self.stream.shutdown();
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output)?;
            self.output.clear();
        }
        Ok(())
    }

    /// Applies the rules matching `when` (delays first), then writes the
    /// scripted reply or `default`.
    fn respond(&mut self, when: impl Fn(&When) -> bool, default: &[u8]) -> io::Result<Step> {
        loop {
            match self.state.take_rule(&when) {
                Some(Action::Delay(d)) => {
                    self.flush()?;
                    std::thread::sleep(d);
                }
                Some(Action::Reply(bytes)) => {
                    self.output.extend_from_slice(&bytes);
                    return Ok(if bytes.starts_with(b"421") {
                        Step::Close
                    } else {
                        Step::Continue
                    });
                }
                Some(Action::Disconnect) => {
                    self.output.clear();
                    return Ok(Step::Close);
                }
                Some(Action::Hang) => {
                    self.flush()?;
                    self.mode = Mode::Hang;
                    return Ok(Step::Continue);
                }
                None => {
                    self.output.extend_from_slice(default);
                    return Ok(Step::Continue);
                }
            }
        }
    }

    fn process(&mut self) -> io::Result<Step> {
        let mut consumed = 0;
        let result = loop {
            let input = &self.input[consumed..];
            if input.is_empty() {
                break Ok(Step::Continue);
            }
            match &mut self.mode {
                Mode::Hang => break Ok(Step::Continue),
                Mode::Data(decoder) => {
                    let envelope = self.envelope.as_mut();
                    let mut scratch = Vec::new();
                    let out = match envelope {
                        Some(e) if !self.state.script.sink => &mut e.data,
                        _ => &mut scratch,
                    };
                    let before = out.len();
                    let progress = decoder.decode(input, out);
                    self.data_octets += out.len() - before;
                    consumed += progress.consumed;
                    if let Some(step) = self.data_fault()? {
                        break Ok(step);
                    }
                    // Also when the content is complete: the connection
                    // drops before the end of data is acted on.
                    if self.cut_at.is_some_and(|cut| self.data_octets >= cut) {
                        self.state.faults.count(Fault::DropMidData);
                        self.output.clear();
                        break Ok(Step::Close);
                    }
                    if progress.done {
                        self.mode = Mode::Command;
                        if let Step::Close = self.end_of_data()? {
                            break Ok(Step::Close);
                        }
                    }
                }
                Mode::Bdat {
                    remaining,
                    last,
                    replied,
                } => {
                    let take = (*remaining).min(input.len() as u64) as usize;
                    let last = *last;
                    let replied = *replied;
                    *remaining -= take as u64;
                    let done = *remaining == 0;
                    if let (Some(e), false) = (self.envelope.as_mut(), self.state.script.sink) {
                        e.data.extend_from_slice(&input[..take]);
                    }
                    self.data_octets += take;
                    consumed += take;
                    if let Some(step) = self.data_fault()? {
                        break Ok(step);
                    }
                    if self.cut_at.is_some_and(|cut| self.data_octets >= cut) {
                        self.state.faults.count(Fault::DropMidData);
                        self.output.clear();
                        break Ok(Step::Close);
                    }
                    if done {
                        self.mode = Mode::Command;
                        let step = if replied {
                            Step::Continue
                        } else if last {
                            self.end_of_data()?
                        } else if self.envelope.as_ref().is_some_and(|e| !e.rcpts.is_empty()) {
                            self.output
                                .extend_from_slice(b"250 2.0.0 Chunk received\r\n");
                            Step::Continue
                        } else {
                            self.output
                                .extend_from_slice(b"554 5.5.1 Error: no valid recipients\r\n");
                            Step::Continue
                        };
                        if let Step::Close = step {
                            break Ok(Step::Close);
                        }
                    }
                }
                Mode::Auth(..) => {
                    let (line, used) = match smtpkit_proto::server::next_line(input, 64 * 1024) {
                        Ok(Some((line, used))) => (line.to_vec(), used),
                        Ok(None) => break Ok(Step::Continue),
                        Err(_) => {
                            self.output
                                .extend_from_slice(b"500 5.5.0 Error: line too long\r\n");
                            break Ok(Step::Close);
                        }
                    };
                    consumed += used;
                    self.auth_line(&line);
                }
                Mode::Command => {
                    let (line, used) = match smtpkit_proto::server::next_line(
                        input,
                        self.state.script.max_line_len,
                    ) {
                        Ok(Some((line, used))) => (line.to_vec(), used),
                        Ok(None) => break Ok(Step::Continue),
                        Err(_) => {
                            self.output
                                .extend_from_slice(b"500 5.5.0 Error: line too long\r\n");
                            break Ok(Step::Close);
                        }
                    };
                    consumed += used;
                    // Bytes after this command, before its reply was
                    // written: the client did not wait. (A BDAT chunk
                    // follows its command at once, by design.)
                    let bdat = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"BDAT");
                    let pipelining = self
                        .state
                        .script
                        .extensions
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case("PIPELINING"));
                    let strict = self.state.script.strict_pipelining && !pipelining && !bdat;
                    // Already read with it, or arriving within a moment
                    // while its reply is not yet written: a client that
                    // waits for each reply sends nothing now.
                    let early = !bdat
                        && (input.len() > used
                            || (strict && self.output.is_empty() && self.bytes_pending()));
                    if strict && early {
                        self.state
                            .lock()
                            .commands
                            .push(PIPELINING_VIOLATION.to_owned());
                        self.output.extend_from_slice(
                            b"500 5.5.1 Invalid command: Pipelining not supported\r\n",
                        );
                        break Ok(Step::Close);
                    }
                    match self.command(&line)? {
                        Step::Continue => {}
                        other => break Ok(other),
                    }
                }
            }
        };
        self.input.drain(..consumed);
        result
    }

    /// Whether the client sends anything within 30 ms: the strict mode's
    /// check, before a reply, that nothing was written ahead of it.
    fn bytes_pending(&self) -> bool {
        let tcp = self.stream.tcp();
        let mut byte = [0u8; 1];
        let pending = tcp
            .set_read_timeout(Some(Duration::from_millis(30)))
            .is_ok()
            && matches!(tcp.peek(&mut byte), Ok(n) if n > 0);
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(60)));
        pending
    }

    /// A `DataBytes` rule firing mid-content.
    fn data_fault(&mut self) -> io::Result<Option<Step>> {
        let octets = self.data_octets;
        let fired = self
            .state
            .script
            .rules
            .iter()
            .any(|r| matches!(r.when, When::DataBytes(n) if octets >= n));
        if !fired {
            return Ok(None);
        }
        match self
            .state
            .take_rule(|w| matches!(w, When::DataBytes(n) if octets >= *n))
        {
            Some(Action::Reply(bytes)) => {
                self.output.extend_from_slice(&bytes);
                Ok(Some(Step::Close))
            }
            Some(Action::Delay(d)) => {
                self.flush()?;
                std::thread::sleep(d);
                Ok(None)
            }
            Some(Action::Hang) => {
                self.mode = Mode::Hang;
                Ok(Some(Step::Continue))
            }
            Some(Action::Disconnect) => Ok(Some(Step::Close)),
            None => Ok(None),
        }
    }

    fn end_of_data(&mut self) -> io::Result<Step> {
        let envelope = self.envelope.take();
        let octets = self.data_octets as u64;
        self.data_octets = 0;
        let Some(envelope) = envelope.filter(|e| !e.rcpts.is_empty()) else {
            self.output
                .extend_from_slice(b"554 5.5.1 Error: no valid recipients\r\n");
            return Ok(Step::Continue);
        };
        self.queued += 1;
        if let Some(step) = self.chaos_end_of_data(&envelope) {
            return Ok(step);
        }
        if self.state.script.lmtp || envelope.prdr {
            return self.per_recipient_replies(envelope, octets);
        }
        let default = format!("250 2.0.0 Ok: queued as TK{:06}\r\n", self.queued);
        let start = self.output.len();
        let step = self.respond(|w| *w == When::EndOfData, default.as_bytes())?;
        let reply = String::from_utf8_lossy(self.output.get(start..).unwrap_or_default())
            .trim_end()
            .to_owned();
        if reply.starts_with('2') {
            self.state.messages.fetch_add(1, Ordering::SeqCst);
            // Counted as it arrived: sink mode keeps no content.
            self.state.octets.fetch_add(octets, Ordering::SeqCst);
        }
        if !self.state.script.sink {
            self.state.lock().transactions.push(Transaction {
                mail_from: envelope.from,
                mail_params: envelope.params,
                rcpt_to: envelope.rcpts,
                data: envelope.data,
                bdat: envelope.bdat,
                reply,
            });
        }
        Ok(step)
    }

    /// Chaos for one command: a fault instead of its reply, or `None`.
    fn chaos_command(&mut self) -> Option<Step> {
        let (rng, c) = (self.rng.as_mut()?, self.state.script.chaos.as_ref()?);
        let fault = if rng.hit(c.drop) {
            Fault::Drop
        } else if rng.hit(c.service_closing) {
            Fault::ServiceClosing
        } else if rng.hit(c.malformed) {
            Fault::Malformed
        } else if rng.hit(c.withhold) {
            Fault::Withhold
        } else {
            return None;
        };
        self.state.faults.count(fault);
        Some(match fault {
            Fault::ServiceClosing => {
                self.output
                    .extend_from_slice(b"421 4.3.0 chaos: closing\r\n");
                Step::Close
            }
            Fault::Malformed => {
                self.output.extend_from_slice(b"2500 chaos\r\n");
                Step::Close
            }
            Fault::Withhold => {
                self.mode = Mode::Hang;
                Step::Continue
            }
            _ => {
                self.output.clear();
                Step::Close
            }
        })
    }

    /// Chaos for one RCPT: a refusal, or `None`.
    fn chaos_rcpt(&mut self) -> Option<&'static [u8]> {
        let (rng, c) = (self.rng.as_mut()?, self.state.script.chaos.as_ref()?);
        if !rng.hit(c.refuse_recipient) {
            return None;
        }
        Some(if rng.next() < 0.5 {
            self.state.faults.count(Fault::RecipientTemporary);
            b"450 4.2.0 chaos: try later\r\n"
        } else {
            self.state.faults.count(Fault::RecipientPermanent);
            b"550 5.1.1 chaos: no such user\r\n"
        })
    }

    /// Chaos at the end of data: a fault (and what was stored), or `None`.
    fn chaos_end_of_data(&mut self, envelope: &Envelope) -> Option<Step> {
        let (rng, c) = (self.rng.as_mut()?, self.state.script.chaos.as_ref()?);
        if !rng.hit(c.end_of_data) {
            return None;
        }
        let fault = match (rng.next() * 4.0) as u32 {
            0 => Fault::DropBeforeStore,
            1 => Fault::StoredUnacknowledged,
            2 => Fault::DropAfterAcknowledge,
            _ => Fault::TemporaryAtEndOfData,
        };
        self.state.faults.count(fault);
        let store = |reply: &str| Transaction {
            mail_from: envelope.from.clone(),
            mail_params: envelope.params.clone(),
            rcpt_to: envelope.rcpts.clone(),
            data: envelope.data.clone(),
            bdat: envelope.bdat,
            reply: reply.to_owned(),
        };
        Some(match fault {
            Fault::DropBeforeStore => {
                self.output.clear();
                Step::Close
            }
            Fault::StoredUnacknowledged => {
                self.state.lock().transactions.push(store(""));
                self.output.clear();
                Step::Close
            }
            Fault::DropAfterAcknowledge => {
                let reply = format!("250 2.0.0 Ok: queued as TK{:06}", self.queued);
                self.state.lock().transactions.push(store(&reply));
                self.state.messages.fetch_add(1, Ordering::SeqCst);
                self.output.extend_from_slice(reply.as_bytes());
                self.output.extend_from_slice(b"\r\n");
                Step::Close
            }
            _ => {
                self.output
                    .extend_from_slice(b"451 4.3.0 chaos: not today\r\n");
                Step::Continue
            }
        })
    }

    /// LMTP's and PRDR's replies after the data: one per accepted
    /// recipient (PRDR: after a 353, and followed by a final reply).
    fn per_recipient_replies(&mut self, envelope: Envelope, octets: u64) -> io::Result<Step> {
        let prdr = !self.state.script.lmtp;
        if prdr {
            self.output
                .extend_from_slice(b"353 2.0.0 Content analysis started\r\n");
        }
        let mut delivered = Vec::new();
        let mut replies = Vec::new();
        for rcpt in &envelope.rcpts {
            let start = self.output.len();
            let default = format!("250 2.0.0 <{rcpt}> delivered\r\n");
            let step = self.respond(
                |w| matches!(w, When::DataFor(a) if a.eq_ignore_ascii_case(rcpt)),
                default.as_bytes(),
            )?;
            let reply = String::from_utf8_lossy(self.output.get(start..).unwrap_or_default())
                .trim_end()
                .to_owned();
            if step == Step::Close {
                return Ok(step);
            }
            if reply.starts_with('2') {
                delivered.push(rcpt.clone());
            }
            replies.push(reply);
        }
        if prdr {
            self.output.extend_from_slice(if delivered.is_empty() {
                b"550 5.7.1 No recipient accepted the message\r\n"
            } else {
                b"250 2.0.0 Message accepted for the recipients above\r\n"
            });
        }
        if !delivered.is_empty() {
            self.state.messages.fetch_add(1, Ordering::SeqCst);
            self.state.octets.fetch_add(octets, Ordering::SeqCst);
            if !self.state.script.sink {
                self.state.lock().transactions.push(Transaction {
                    mail_from: envelope.from,
                    mail_params: envelope.params,
                    rcpt_to: delivered,
                    data: envelope.data,
                    bdat: envelope.bdat,
                    reply: replies.join("\n"),
                });
            }
        }
        Ok(Step::Continue)
    }

    fn command(&mut self, line: &[u8]) -> io::Result<Step> {
        if !self.state.script.sink && self.state.script.log_commands {
            self.state
                .lock()
                .commands
                .push(String::from_utf8_lossy(line).into_owned());
        }
        let command = match Command::parse(line) {
            Ok(c) => c,
            Err(smtpkit_proto::CommandError::UnknownCommand { .. }) => {
                self.output
                    .extend_from_slice(b"502 5.5.2 Error: command not recognized\r\n");
                return Ok(Step::Continue);
            }
            Err(_) => {
                self.output
                    .extend_from_slice(b"501 5.5.4 Syntax error in parameters or arguments\r\n");
                return Ok(Step::Continue);
            }
        };
        let verb = command.verb();
        if !matches!(command, Command::Quit)
            && let Some(step) = self.chaos_command()
        {
            return Ok(step);
        }
        let lmtp = self.state.script.lmtp;
        match command {
            Command::Ehlo(_) | Command::Helo(_) if lmtp => {
                self.output
                    .extend_from_slice(b"500 5.5.1 This is LMTP: use LHLO\r\n");
                Ok(Step::Continue)
            }
            Command::Lhlo(_) if !lmtp => {
                self.output
                    .extend_from_slice(b"502 5.5.2 Error: command not recognized\r\n");
                Ok(Step::Continue)
            }
            Command::Ehlo(_) | Command::Lhlo(_) => {
                let host = &self.state.script.hostname;
                let mut reply = Vec::new();
                let mut exts = self.state.script.extensions.clone();
                if self.state.script.starttls.is_some() && !self.tls_active {
                    exts.push("STARTTLS".to_owned());
                }
                if !self.state.script.auth_mechanisms.is_empty() {
                    exts.push(format!(
                        "AUTH {}",
                        self.state.script.auth_mechanisms.join(" ")
                    ));
                }
                let exts = &exts;
                reply.extend_from_slice(
                    format!("250{}{host}\r\n", if exts.is_empty() { ' ' } else { '-' }).as_bytes(),
                );
                for (i, ext) in exts.iter().enumerate() {
                    let sep = if i + 1 == exts.len() { ' ' } else { '-' };
                    reply.extend_from_slice(format!("250{sep}{ext}\r\n").as_bytes());
                }
                self.envelope = None;
                self.respond(|w| *w == When::Command("EHLO"), &reply)
            }
            Command::Helo(_) => {
                let reply = format!("250 {}\r\n", self.state.script.hostname);
                self.envelope = None;
                self.respond(|w| *w == When::Command("HELO"), reply.as_bytes())
            }
            Command::Mail {
                from,
                params: mail_params,
            } => {
                if self.envelope.is_some() {
                    self.output
                        .extend_from_slice(b"503 5.5.1 Error: nested MAIL command\r\n");
                    return Ok(Step::Continue);
                }
                if self.state.script.require_auth && !self.authenticated {
                    self.output
                        .extend_from_slice(b"530 5.7.0 Authentication required\r\n");
                    return Ok(Step::Continue);
                }
                let start = self.output.len();
                let step = self.respond(|w| *w == When::Command("MAIL"), b"250 2.1.0 Ok\r\n")?;
                if self.replied(start, b"2") {
                    // Chaos: where in this transaction's content to drop.
                    self.cut_at = None;
                    if let (Some(rng), Some(c)) = (self.rng.as_mut(), &self.state.script.chaos)
                        && rng.hit(c.drop_mid_data)
                    {
                        self.cut_at = Some((rng.next() * 40.0) as usize + 1);
                    }
                    let text = String::from_utf8_lossy(line).into_owned();
                    let params = text.split(' ').skip(2).map(str::to_owned).collect();
                    self.envelope = Some(Envelope {
                        prdr: mail_params.prdr,
                        from: match from {
                            ReversePath::Null => String::new(),
                            ReversePath::Mailbox(a) => a.to_string(),
                        },
                        params,
                        rcpts: Vec::new(),
                        rcpt_count: 0,
                        data: Vec::new(),
                        bdat: false,
                    });
                }
                Ok(step)
            }
            Command::Rcpt { to, .. } => {
                let Some(index) = self.envelope.as_ref().map(|e| e.rcpt_count) else {
                    self.output
                        .extend_from_slice(b"503 5.5.1 Error: need MAIL command\r\n");
                    return Ok(Step::Continue);
                };
                let address = match to {
                    ForwardPath::Postmaster => "Postmaster".to_owned(),
                    ForwardPath::Mailbox(a) => a.to_string(),
                };
                if let Some(refusal) = self.chaos_rcpt() {
                    if let Some(e) = self.envelope.as_mut() {
                        e.rcpt_count += 1;
                    }
                    self.output.extend_from_slice(refusal);
                    return Ok(Step::Continue);
                }
                let start = self.output.len();
                let step = self.respond(
                    |w| match w {
                        When::RcptTo(a) => a.eq_ignore_ascii_case(&address),
                        When::RcptFrom(n) => index >= *n,
                        When::Command(v) => *v == "RCPT",
                        _ => false,
                    },
                    b"250 2.1.5 Ok\r\n",
                )?;
                let accepted = self.replied(start, b"2");
                if let Some(e) = self.envelope.as_mut() {
                    e.rcpt_count += 1;
                    if accepted {
                        e.rcpts.push(address);
                    }
                }
                Ok(step)
            }
            Command::Data => {
                match &self.envelope {
                    None => {
                        self.output
                            .extend_from_slice(b"503 5.5.1 Error: need RCPT command\r\n");
                        return Ok(Step::Continue);
                    }
                    Some(e) if e.rcpts.is_empty() => {
                        self.output
                            .extend_from_slice(b"554 5.5.1 Error: no valid recipients\r\n");
                        return Ok(Step::Continue);
                    }
                    Some(_) => {}
                }
                let start = self.output.len();
                let step = self.respond(
                    |w| *w == When::Command("DATA"),
                    b"354 End data with <CR><LF>.<CR><LF>\r\n",
                )?;
                if self.replied(start, b"354") {
                    self.mode = Mode::Data(DataDecoder::new());
                    self.data_octets = 0;
                }
                Ok(step)
            }
            Command::Bdat { size, last } => {
                if self.state.script.chunks_not_discarded
                    && self.envelope.as_ref().is_none_or(|e| e.rcpts.is_empty())
                {
                    // The defect: refused, and the chunk left to be read
                    // as commands.
                    let refusal: &[u8] = if self.state.script.require_auth && !self.authenticated {
                        b"530 5.7.0 Authentication required\r\n"
                    } else if self.envelope.is_none() {
                        b"503 5.5.1 Error: need MAIL command\r\n"
                    } else {
                        b"554 5.5.1 Error: no valid recipients\r\n"
                    };
                    self.output.extend_from_slice(refusal);
                    return Ok(Step::Continue);
                }
                if let Some(e) = self.envelope.as_mut() {
                    e.bdat = true;
                }
                // The chunk is read whatever the reply (RFC 3030).
                let start = self.output.len();
                let step = self.respond(|w| *w == When::Command("BDAT"), b"")?;
                let scripted = self.output.len() > start;
                if scripted {
                    // A refused chunk ends the transaction; its octets are
                    // still read.
                    self.envelope = None;
                }
                if size == 0 {
                    return if scripted {
                        Ok(step)
                    } else {
                        self.process_zero_chunk(last)
                    };
                }
                self.mode = Mode::Bdat {
                    remaining: size,
                    last,
                    replied: scripted,
                };
                Ok(step)
            }
            Command::Rset => {
                self.envelope = None;
                self.respond(|w| *w == When::Command("RSET"), b"250 2.0.0 Ok\r\n")
            }
            Command::Noop(_) => self.respond(|w| *w == When::Command("NOOP"), b"250 2.0.0 Ok\r\n"),
            Command::Quit => {
                self.respond(|w| *w == When::Command("QUIT"), b"221 2.0.0 Bye\r\n")?;
                Ok(Step::Close)
            }
            Command::Vrfy(_) => self.respond(
                |w| *w == When::Command("VRFY"),
                b"252 2.0.0 Cannot VRFY user\r\n",
            ),
            Command::StartTls => {
                if self.state.script.starttls.is_none() || self.tls_active {
                    return self.respond(
                        |w| *w == When::Command("STARTTLS"),
                        b"454 4.7.0 TLS not available\r\n",
                    );
                }
                let start = self.output.len();
                let step = self.respond(
                    |w| *w == When::Command("STARTTLS"),
                    b"220 2.0.0 Ready to start TLS\r\n",
                )?;
                // A scripted reply (an injection test) does not start TLS.
                let scripted =
                    self.output.get(start..) != Some(&b"220 2.0.0 Ready to start TLS\r\n"[..]);
                if step == Step::Continue && !scripted {
                    return Ok(Step::StartTls);
                }
                Ok(step)
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                let start = self.output.len();
                let step = self.respond(|w| *w == When::Command("AUTH"), b"")?;
                if self.output.len() > start {
                    return Ok(step);
                }
                self.start_auth(
                    mechanism.as_str(),
                    initial_response.map(|r| r.expose().to_owned()),
                );
                Ok(Step::Continue)
            }
            _ => self.respond(
                |w| *w == When::Command(verb),
                b"502 5.5.2 Error: command not implemented\r\n",
            ),
        }
    }

    fn start_auth(&mut self, mechanism: &str, initial: Option<String>) {
        if self.authenticated {
            self.output
                .extend_from_slice(b"503 5.5.1 Error: already authenticated\r\n");
            return;
        }
        if !self
            .state
            .script
            .auth_mechanisms
            .iter()
            .any(|m| m == mechanism)
        {
            self.output
                .extend_from_slice(b"504 5.5.4 Unrecognized authentication type\r\n");
            return;
        }
        let initial = match initial.as_deref() {
            None => None,
            Some("=") => Some(Vec::new()),
            Some(b64) => match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(data) => Some(data),
                Err(_) => {
                    self.output
                        .extend_from_slice(b"501 5.5.2 Cannot decode response\r\n");
                    return;
                }
            },
        };
        self.queued += 1;
        let offers_plus = self
            .state
            .script
            .auth_mechanisms
            .iter()
            .any(|m| m.ends_with("-PLUS"));
        let channel = self.stream.channel(offers_plus);
        match auth::Exchange::start(
            mechanism,
            initial,
            &self.state.script.users,
            self.queued,
            &channel,
        ) {
            Some((exchange, step)) => {
                self.mode = Mode::Auth(Box::new(exchange), mechanism.to_owned());
                self.auth_step(step);
            }
            None => self
                .output
                .extend_from_slice(b"504 5.5.4 Unrecognized authentication type\r\n"),
        }
    }

    fn auth_line(&mut self, line: &[u8]) {
        if line == b"*" {
            self.mode = Mode::Command;
            self.output
                .extend_from_slice(b"501 5.7.0 Authentication cancelled\r\n");
            return;
        }
        let Ok(data) = base64::engine::general_purpose::STANDARD.decode(line) else {
            self.mode = Mode::Command;
            self.output
                .extend_from_slice(b"501 5.5.2 Cannot decode response\r\n");
            return;
        };
        let step = match &mut self.mode {
            Mode::Auth(exchange, _) => exchange.step(&data),
            _ => return,
        };
        self.auth_step(step);
    }

    fn auth_step(&mut self, step: auth::Step) {
        match step {
            auth::Step::Challenge(challenge) => {
                let line = format!(
                    "334 {}\r\n",
                    base64::engine::general_purpose::STANDARD.encode(challenge)
                );
                self.output.extend_from_slice(line.as_bytes());
            }
            auth::Step::Success(user) => {
                let mechanism = match std::mem::replace(&mut self.mode, Mode::Command) {
                    Mode::Auth(_, m) => m,
                    _ => String::new(),
                };
                self.authenticated = true;
                self.state.lock().authentications.push((mechanism, user));
                self.output
                    .extend_from_slice(b"235 2.7.0 Authentication successful\r\n");
            }
            auth::Step::Failure => {
                self.mode = Mode::Command;
                self.output
                    .extend_from_slice(b"535 5.7.8 Error: authentication failed\r\n");
            }
        }
    }

    /// Whether the reply written since `start` begins with `prefix` (a
    /// hang or disconnect leaves none).
    fn replied(&self, start: usize, prefix: &[u8]) -> bool {
        self.output
            .get(start..)
            .is_some_and(|o| o.starts_with(prefix))
    }

    fn process_zero_chunk(&mut self, last: bool) -> io::Result<Step> {
        self.mode = Mode::Command;
        if last {
            self.end_of_data()
        } else {
            self.output
                .extend_from_slice(b"250 2.0.0 Chunk received\r\n");
            Ok(Step::Continue)
        }
    }
}
