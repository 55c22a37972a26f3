//! Codec throughput: reply parsing, command encoding, and the DATA encoder
//! against a plain memcpy of the same bytes measured in the same run.
//!
//! Run: `cargo bench -p smtp-benches --bench codec`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smtp_benches::{EHLO_20_LINES, ONE_LINE, crlf_text, dotted_text, lf_text};
use smtpkit_proto::{
    Address, BdatChunker, BodyInspector, BodyType, Command, DataEncoder, Decoded, EhloResponse,
    MailParameters, RcptParameters, ReplyDecoder,
};

fn replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply");
    group.throughput(Throughput::Bytes(ONE_LINE.len() as u64));
    group.bench_function("one_line", |b| {
        let mut decoder = ReplyDecoder::default();
        b.iter(|| match decoder.decode(black_box(ONE_LINE)) {
            Ok(Decoded::Complete { item, .. }) => item,
            other => panic!("{other:?}"),
        })
    });
    group.throughput(Throughput::Bytes(EHLO_20_LINES.len() as u64));
    group.bench_function("ehlo_20_lines", |b| {
        let mut decoder = ReplyDecoder::default();
        b.iter(|| match decoder.decode(black_box(EHLO_20_LINES)) {
            Ok(Decoded::Complete { item, .. }) => EhloResponse::from_reply(&item),
            other => panic!("{other:?}"),
        })
    });
    // A pipelined stream of 1000 one-line replies: replies per second.
    let stream: Vec<u8> = ONE_LINE.repeat(1000);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("one_line_x1000_elements", |b| {
        let mut decoder = ReplyDecoder::default();
        b.iter(|| {
            let mut input = black_box(&stream[..]);
            let mut n = 0;
            while let Ok(Decoded::Complete { consumed, .. }) = decoder.decode(input) {
                input = &input[consumed..];
                n += 1;
            }
            assert_eq!(n, 1000);
        })
    });
    group.finish();
}

fn commands(c: &mut Criterion) {
    let mut params = MailParameters::default();
    params.size = Some(1_048_576);
    params.body = Some(BodyType::EightBitMime);
    let mail = Command::Mail {
        from: Address::parse("sender.name@example.org").unwrap().into(),
        params,
    };
    let rcpt = Command::Rcpt {
        to: Address::parse("recipient.name@example.net").unwrap().into(),
        params: RcptParameters::default(),
    };
    let mut group = c.benchmark_group("command_encode");
    let len =
        (mail.to_bytes().len() + rcpt.to_bytes().len() + Command::Data.to_bytes().len()) as u64;
    group.throughput(Throughput::Bytes(len));
    group.bench_function("mail_rcpt_data", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            black_box(&mail).encode(&mut out);
            black_box(&rcpt).encode(&mut out);
            Command::Data.encode(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
    c.bench_function("address_parse", |b| {
        b.iter(|| Address::parse(black_box("first.last+tag@mail.example.org")))
    });
}

fn bodies(c: &mut Criterion) {
    for (size_name, size) in [
        ("1KiB", 1usize << 10),
        ("1MiB", 1 << 20),
        ("64MiB", 64 << 20),
    ] {
        let mut group = c.benchmark_group(format!("body_{size_name}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 64 << 20 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(10));
        }
        let crlf = crlf_text(size);
        let mut out = Vec::with_capacity(size * 2 + 16);
        group.bench_function("memcpy_baseline", |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(&crlf));
                black_box(out.len())
            })
        });
        for (name, body) in [
            ("crlf", crlf.clone()),
            ("lf", lf_text(size)),
            ("dotted", dotted_text(size)),
        ] {
            group.bench_with_input(BenchmarkId::new("data_encoder", name), &body, |b, body| {
                b.iter(|| {
                    out.clear();
                    let mut encoder = DataEncoder::new();
                    encoder.push(black_box(body), &mut out);
                    encoder.finish(&mut out);
                    black_box(out.len())
                })
            });
        }
        group.bench_function(BenchmarkId::new("bdat_chunker", "crlf"), |b| {
            b.iter(|| {
                out.clear();
                let mut chunker = BdatChunker::new(1 << 20, false);
                chunker.push(black_box(&crlf), &mut out);
                chunker.finish(&mut out);
                black_box(out.len())
            })
        });
        group.bench_function(BenchmarkId::new("inspector", "crlf"), |b| {
            b.iter(|| {
                let mut inspector = BodyInspector::new();
                inspector.update(black_box(&crlf));
                inspector.finish()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, replies, commands, bodies);
criterion_main!(benches);
