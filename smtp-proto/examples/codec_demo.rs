//! A tour of the codec without a network: the bytes a client would write
//! for one pipelined transaction, a server's replies decoded from arbitrary
//! pieces, and a hostile message body made safe.
//!
//! Run: `cargo run -p smtpkit-proto --example codec_demo [MESSAGE_FILE]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use smtpkit_proto::{
    Address, BodyInspector, Command, DataDecoder, DataEncoder, EhloResponse, Host, MailParameters,
    RcptParameters, ReplyDecoder,
};

fn show(direction: &str, bytes: &[u8]) {
    for line in String::from_utf8_lossy(bytes).split_inclusive("\r\n") {
        println!(
            "{direction} {}",
            line.trim_end_matches("\r\n").escape_debug()
        );
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codec_demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let message = match std::env::args_os().nth(1) {
        Some(path) => std::fs::read(path)?,
        // LF line endings, a leading dot, 8-bit text and an SMTP smuggling
        // attempt: "<LF>.<LF>" followed by a second transaction.
        None => b"From: alice@example.org\nTo: bob@example.net\nSubject: caf\xc3\xa9\n\n\
.a line starting with a dot\nsmuggle:\n.\nMAIL FROM:<evil@example.com>\n"
            .to_vec(),
    };

    // 1. Look at the body first: it decides SIZE= and BODY=.
    let mut inspector = BodyInspector::new();
    inspector.update(&message);
    let report = inspector.finish();
    println!("# body: {report:?}");

    // 2. The server's greeting and EHLO reply, delivered in odd pieces.
    let mut decoder = ReplyDecoder::default();
    let mut buffer = bytes::BytesMut::new();
    let server = b"220 mx.example.net ESMTP\r\n250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
    let mut replies = Vec::new();
    for piece in server.chunks(7) {
        buffer.extend_from_slice(piece);
        while let Some(reply) = decoder.decode_buf(&mut buffer)? {
            replies.push(reply);
        }
    }
    let [greeting, ehlo_reply] = replies.as_slice() else {
        return Err("expected two replies".into());
    };
    show("S:", &greeting.to_bytes());
    show(
        "C:",
        &Command::Ehlo(Host::parse("client.example")?).to_bytes(),
    );
    show("S:", &ehlo_reply.to_bytes());
    let ehlo = EhloResponse::from_reply(ehlo_reply)?;
    println!(
        "# extensions: {}",
        ehlo.keywords().collect::<Vec<_>>().join(" ")
    );
    if let Some(max) = ehlo.max_message_size()
        && report.size > max
    {
        return Err(format!("message of {} octets exceeds SIZE {max}", report.size).into());
    }

    // 3. One pipelined flight: MAIL, RCPT, DATA.
    let mut flight = Vec::new();
    let mut params = MailParameters::default();
    params.size = Some(report.size);
    params.body = Some(report.body_type());
    Command::Mail {
        from: Address::parse("alice@example.org")?.into(),
        params,
    }
    .encode(&mut flight);
    Command::Rcpt {
        to: Address::parse("bob@example.net")?.into(),
        params: RcptParameters::default(),
    }
    .encode(&mut flight);
    Command::Data.encode(&mut flight);
    show("C:", &flight);

    // 4. The body, streamed in small chunks: normalised and dot-stuffed.
    let mut wire = Vec::new();
    let mut encoder = DataEncoder::new();
    for chunk in message.chunks(5) {
        encoder.push(chunk, &mut wire);
    }
    encoder.finish(&mut wire);
    show("C:", &wire);

    // 5. What a server reads back: one message, nothing smuggled.
    let mut content = Vec::new();
    let progress = DataDecoder::new().decode(&wire, &mut content);
    if !progress.done || progress.consumed != wire.len() {
        return Err("the end of data was not where the encoder put it".into());
    }
    println!(
        "# server received one message of {} octets; the smuggled MAIL FROM stayed inside it",
        content.len()
    );
    Ok(())
}
