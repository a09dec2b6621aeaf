//! Micro benchmarks of the pure hot paths: event-stream decoding, Kiro request building, SSE
//! encoding per dialect, the `<thinking>` splitter, and the whole response translation.
//!
//! `cargo bench --bench micro` (all), or `cargo bench --bench micro -- decode` (a group).
//! See BENCHMARKS.md for the figures and how they were taken.

#[path = "support/body.rs"]
mod body;

use bytes::Bytes;
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput,
};
use kiro_edge::chat::{ResponseMeta, StopReason, StreamEvent, Usage};
use kiro_edge::dialect::openai_responses::store::ResponseStore;
use kiro_edge::dialect::{Dialect, RequestHints};
use kiro_edge::kiro::eventstream::{encode_event, Decoder};
use kiro_edge::kiro::models::{self, ModelSettings};
use kiro_edge::kiro::request::{self, with_profile_arn, BuildOptions};
use kiro_edge::kiro::thinking::{Segment, ThinkingSplitter};
use kiro_edge::kiro::{events, response};
use kiro_edge::pipeline::{self, TranslateSettings};
use std::time::{Duration, Instant};

const ARN: &str = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";

/// A small deterministic PRNG (xorshift64*): reproducible split points without a `rand` crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// `bytes` cut at random points into pieces of 1..=`max_piece` bytes.
fn split_randomly(bytes: &[u8], max_piece: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let mut pieces = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = (1 + rng.below(max_piece)).min(rest.len());
        let (head, tail) = rest.split_at(n);
        pieces.push(head.to_vec());
        rest = tail;
    }
    pieces
}

fn text_event(text: &str) -> Vec<u8> {
    encode_event(
        "assistantResponseEvent",
        serde_json::json!({ "content": text })
            .to_string()
            .as_bytes(),
    )
}

/// About `total` bytes of `assistantResponseEvent` frames whose text is `text_len` bytes.
fn text_stream(total: usize, text_len: usize) -> Vec<u8> {
    let text = "word ".repeat(text_len / 5 + 1);
    let frame = text_event(&text[..text_len]);
    frame.repeat(total / frame.len() + 1)
}

/// A typical answer as Kiro streams it: `events` text deltas, then usage and metering.
fn kiro_answer(events: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..events {
        out.extend(text_event(&format!("tok{i} ")));
    }
    out.extend(encode_event(
        "contextUsageEvent",
        br#"{"contextUsagePercentage":1.25}"#,
    ));
    out.extend(encode_event(
        "meteringEvent",
        br#"{"unit":"credit","unitPlural":"credits","usage":0.01}"#,
    ));
    out
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.measurement_time(Duration::from_secs(4));
    // Small frames are what Kiro sends (a few words each); large ones bound the CRC and copy cost.
    for (name, text_len) in [("small_frames", 24), ("large_frames", 16 * 1024)] {
        let stream = text_stream(1 << 20, text_len);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        for max_piece in [64usize, 1460, 16 * 1024] {
            let pieces = split_randomly(&stream, max_piece, 7);
            group.bench_function(format!("{name}/split_1..{max_piece}"), |b| {
                b.iter_batched(
                    // Fresh, uniquely owned chunks, like the ones Pingora hands the filter.
                    || {
                        pieces
                            .iter()
                            .map(|p| Bytes::copy_from_slice(p))
                            .collect::<Vec<_>>()
                    },
                    |chunks| {
                        let mut decoder = Decoder::new();
                        let mut frames = 0usize;
                        for chunk in chunks {
                            decoder.feed_bytes(chunk).expect("feed");
                            while let Some(frame) = decoder.next_frame().expect("frame") {
                                frames += black_box(frame).payload.len();
                            }
                        }
                        frames
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        // Frames to typed events too (the JSON payload parse), as the translator does.
        let pieces = split_randomly(&stream, 1460, 7);
        group.bench_function(format!("{name}/split_1..1460+events"), |b| {
            b.iter_batched(
                || {
                    pieces
                        .iter()
                        .map(|p| Bytes::copy_from_slice(p))
                        .collect::<Vec<_>>()
                },
                |chunks| {
                    let mut decoder = Decoder::new();
                    let mut n = 0usize;
                    for chunk in chunks {
                        decoder.feed_bytes(chunk).expect("feed");
                        while let Some(frame) = decoder.next_frame().expect("frame") {
                            n += black_box(events::decode(&frame)).is_ok() as usize;
                        }
                    }
                    n
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn bench_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    group.measurement_time(Duration::from_secs(5));
    let settings = TranslateSettings {
        payload_budget: request::DEFAULT_PAYLOAD_BUDGET,
        max_image_bytes: request::DEFAULT_MAX_IMAGE_BYTES,
        ..TranslateSettings::default()
    };
    let hints = RequestHints::default();
    let store = ResponseStore::new(16, Duration::from_secs(60));
    for (name, size) in [("20KB", 20_000), ("88KB", 88_000), ("600KB", 600_000)] {
        let body = serde_json::to_vec(&body::claude_code_body(size, "")).expect("json");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("prepare/{name}"), |b| {
            b.iter(|| {
                pipeline::prepare(
                    Dialect::Anthropic,
                    black_box(&body),
                    &hints,
                    &settings,
                    &store,
                )
            })
        });
        // Every request with tools no recent one sent (a new client, a changed MCP setup):
        // more variants than the tool cache remembers, taken in turn.
        let unseen: Vec<Vec<u8>> = (0..128)
            .map(|i| {
                let mut variant = body::claude_code_body(size, "");
                variant["tools"][0]["description"] = format!("variant {i}").into();
                serde_json::to_vec(&variant).expect("json")
            })
            .collect();
        let mut next = 0;
        group.bench_function(format!("prepare_unseen_tools/{name}"), |b| {
            b.iter(|| {
                next = (next + 1) % unseen.len();
                pipeline::prepare(
                    Dialect::Anthropic,
                    black_box(&unseen[next]),
                    &hints,
                    &settings,
                    &store,
                )
            })
        });
        group.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| Dialect::Anthropic.parse_request(black_box(&body), &hints))
        });
        let req = Dialect::Anthropic
            .parse_request(&body, &hints)
            .expect("parse");
        let model = models::resolve(&req.model, &ModelSettings::default()).expect("model");
        let options = BuildOptions::new(&model);
        group.bench_function(format!("build/{name}"), |b| {
            b.iter(|| request::build(black_box(&req), &options))
        });
        let built = request::build(&req, &options).expect("build");
        group.bench_function(format!("with_profile_arn/{name}"), |b| {
            b.iter(|| with_profile_arn(black_box(&built.body), Some(ARN)))
        });
    }
    // The other CLIs' captured requests: 18 of Codex's 40 KB are its tool list, sent on every
    // turn; Gemini CLI's model and streaming come from the URL, and it names no session.
    let (gemini, model) = body::gemini_cli_body();
    let gemini_hints = RequestHints {
        path_model: Some(model.to_owned()),
        path_stream: Some(true),
        query: Some("alt=sse".to_owned()),
        ..RequestHints::default()
    };
    let captured = [
        ("codex_40KB", Dialect::OpenAiResponses, codex_body(), &hints),
        (
            "gemini_cli_51KB",
            Dialect::Gemini,
            serde_json::to_vec(&gemini).expect("json"),
            &gemini_hints,
        ),
    ];
    for (name, dialect, body, hints) in &captured {
        group.throughput(Throughput::Bytes(body.len() as u64));
        let prepare = || pipeline::prepare(*dialect, black_box(body), hints, &settings, &store);
        prepare().unwrap_or_else(|e| panic!("prepare {name}: {e:?}"));
        group.bench_function(format!("prepare/{name}"), |b| b.iter(prepare));
    }
    group.finish();
    let mut cold: Vec<(String, Dialect, Vec<u8>, &RequestHints)> =
        [("20KB", 20_000), ("88KB", 88_000), ("600KB", 600_000)]
            .into_iter()
            .map(|(name, size)| {
                let body = serde_json::to_vec(&body::claude_code_body(size, "")).expect("json");
                (name.to_owned(), Dialect::Anthropic, body, &hints)
            })
            .collect();
    cold.extend(
        captured
            .iter()
            .map(|(name, dialect, body, hints)| (name.to_string(), *dialect, body.clone(), *hints)),
    );
    bench_cold_prepare(c, &cold, &settings, &store);
}

/// `prepare` as the running gateway meets it between paced events: every cache evicted (the
/// code, the allocator's lists, the tool cache's entry), only the client's body warm, as just
/// read from its socket. Back to back it runs 3–5× faster than in place ("Where a request's
/// first byte goes" in BENCHMARKS.md); this is the figure that tracks the in-place one.
fn bench_cold_prepare(
    c: &mut Criterion,
    bodies: &[(String, Dialect, Vec<u8>, &RequestHints)],
    settings: &TranslateSettings,
    store: &ResponseStore,
) {
    let mut group = c.benchmark_group("request_cold");
    // Each iteration first writes 48 MiB, more than the L2 and L3 caches hold; only the timed
    // part counts, so keep the measured time short.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(40);
    group.warm_up_time(Duration::from_millis(100));
    group.measurement_time(Duration::from_secs(1));
    let mut evict = vec![0u8; 48 << 20];
    for (name, dialect, body, hints) in bodies {
        let mut received = vec![0u8; body.len()];
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("prepare/{name}"), |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for i in 0..iterations {
                    for line in evict.chunks_mut(64) {
                        line[0] = line[0].wrapping_add(i as u8);
                    }
                    received.copy_from_slice(body);
                    let start = Instant::now();
                    let prepared = pipeline::prepare(*dialect, &received, hints, settings, store);
                    spent += start.elapsed();
                    drop(black_box(prepared));
                }
                spent
            })
        });
    }
    group.finish();
}

/// The body of Codex CLI's captured `POST /v1/responses` (tools, developer prompt, history).
fn codex_body() -> Vec<u8> {
    serde_json::to_vec(&body::codex_body("")).expect("json")
}

fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "0f6b1c2d3e4f40718293a4b5c6d7e8f9".into(),
        model: "claude-sonnet-4-5".into(),
        input_tokens: 1200,
        created: 1_760_000_000,
        thinking: false,
        echo: None,
        shared_echo: None,
    }
}

const DIALECTS: [Dialect; 4] = [
    Dialect::Anthropic,
    Dialect::OpenAiChat,
    Dialect::OpenAiResponses,
    Dialect::Gemini,
];

fn bench_sse(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse");
    let delta = StreamEvent::TextDelta("Hello, this is a streamed token ".into());
    for dialect in DIALECTS {
        // Per event, in the steady state of a text block.
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("text_delta/{}", dialect.name()), |b| {
            let mut writer = dialect.response_writer(true, meta());
            let mut out = Vec::with_capacity(4096);
            writer.write(&StreamEvent::Start, &mut out);
            writer.write(&StreamEvent::TextDelta("a".into()), &mut out);
            b.iter(|| {
                out.clear();
                writer.write(black_box(&delta), &mut out);
                out.len()
            })
        });
        // A whole 50-delta answer, including the writer's setup and the closing events.
        group.throughput(Throughput::Elements(53));
        group.bench_function(format!("answer_50/{}", dialect.name()), |b| {
            b.iter(|| {
                let mut writer = dialect.response_writer(true, meta());
                let mut out = Vec::new();
                writer.write(&StreamEvent::Start, &mut out);
                for _ in 0..50 {
                    writer.write(&delta, &mut out);
                }
                writer.write(
                    &StreamEvent::Finish {
                        stop_reason: StopReason::EndTurn,
                        usage: Usage {
                            input_tokens: 1200,
                            output_tokens: 100,
                            credits: Some(0.01),
                        },
                    },
                    &mut out,
                );
                out
            })
        });
    }
    group.finish();
}

fn bench_thinking(c: &mut Criterion) {
    let mut group = c.benchmark_group("thinking");
    // A 4 KB thinking block and 4 KB of text in 8-byte deltas: the splitter's worst case is
    // the thinking part, where every delta is scanned for a closing tag.
    let mut text = String::from("<thinking>\n");
    text.push_str(&"Let me weigh the options here. ".repeat(128));
    text.push_str("</thinking>\n\n");
    text.push_str(&"The answer is forty-two, because. ".repeat(120));
    let deltas: Vec<&str> = {
        let mut v = Vec::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let mut cut = rest.len().min(8);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            let (head, tail) = rest.split_at(cut);
            v.push(head);
            rest = tail;
        }
        v
    };
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("split_8_byte_deltas", |b| {
        b.iter(|| {
            let mut splitter = ThinkingSplitter::new();
            let mut out: Vec<Segment> = Vec::new();
            for d in &deltas {
                splitter.push(black_box(d), &mut out);
            }
            splitter.finish(&mut out);
            out
        })
    });
    group.finish();
}

fn bench_translator(c: &mut Criterion) {
    let mut group = c.benchmark_group("translator");
    let settings = TranslateSettings {
        payload_budget: request::DEFAULT_PAYLOAD_BUDGET,
        max_image_bytes: request::DEFAULT_MAX_IMAGE_BYTES,
        ..TranslateSettings::default()
    };
    let store = ResponseStore::new(16, Duration::from_secs(60));
    let model = "claude-sonnet-4-5";
    let answer = kiro_answer(50);
    // Each frame in its own chunk, as the mock writes them; TCP may merge them, never worse.
    let mut frames = Vec::new();
    let mut decoder = Decoder::new();
    decoder.feed(&answer).expect("feed");
    let mut at = 0;
    while let Some(frame) = decoder.next_frame().expect("frame") {
        let len = frame.to_bytes().len();
        frames.push(answer[at..at + len].to_vec());
        at += len;
    }
    let mut answers: Vec<_> = DIALECTS
        .iter()
        .map(|&dialect| {
            let (body, hints) = minimal_request(dialect, model);
            let prepared = pipeline::prepare(dialect, &body, &hints, &settings, &store)
                .unwrap_or_else(|e| panic!("{}: {e:?}", dialect.name()));
            (format!("answer_50/{}", dialect.name()), prepared)
        })
        .collect();
    // Codex's answer: every response object it carries echoes the request's tools.
    let codex = codex_body();
    let hints = RequestHints::default();
    let prepared = pipeline::prepare(Dialect::OpenAiResponses, &codex, &hints, &settings, &store)
        .expect("prepare codex");
    answers.push(("answer_50_codex/openai_responses".into(), prepared));
    group.throughput(Throughput::Bytes(answer.len() as u64));
    for (name, prepared) in &answers {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    frames
                        .iter()
                        .map(|f| Bytes::copy_from_slice(f))
                        .collect::<Vec<_>>()
                },
                |chunks| {
                    let mut t = prepared.translator();
                    let mut sent = 0;
                    for chunk in chunks {
                        sent += t.push(chunk).len();
                    }
                    sent + t.finish().len()
                },
                BatchSize::SmallInput,
            )
        });
    }
    // A thousand streams taking turns, as on a busy gateway: each translator's state has left
    // the caches by the time its next event comes, which is what an event costs under load
    // (the answer_50 figures above are the same work with everything cached).
    let (body, hints) = minimal_request(Dialect::Anthropic, model);
    let prepared =
        pipeline::prepare(Dialect::Anthropic, &body, &hints, &settings, &store).expect("prepare");
    const STREAMS: usize = 1000;
    group.throughput(Throughput::Elements((STREAMS * frames.len()) as u64));
    group.sample_size(10);
    group.bench_function("interleaved_1000x50/anthropic", |b| {
        b.iter_batched(
            || {
                (0..STREAMS)
                    .map(|_| prepared.translator())
                    .collect::<Vec<_>>()
            },
            |mut translators| {
                let mut sent = 0;
                for frame in &frames {
                    for t in &mut translators {
                        sent += t.push(Bytes::copy_from_slice(frame)).len();
                    }
                }
                (sent, translators)
            },
            BatchSize::PerIteration,
        )
    });
    group.sample_size(100);

    // The assembler alone with thinking on: KiroEvents → StreamEvents.
    let events: Vec<_> = frames
        .iter()
        .map(|f| {
            let mut d = Decoder::new();
            d.feed(f).expect("feed");
            let frame = d.next_frame().expect("frame").expect("one frame");
            events::decode(&frame).expect("event")
        })
        .collect();
    group.bench_function("assembler_50", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                let mut a = response::ResponseAssembler::new(response::AssemblerConfig {
                    thinking: true,
                    context_window: 200_000,
                    input_tokens_estimate: 1200,
                    ..Default::default()
                });
                let mut out = Vec::new();
                a.start(&mut out);
                for e in events {
                    a.push(e, &mut out);
                }
                a.finish(&mut out);
                out
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The smallest streaming request of each dialect.
fn minimal_request(dialect: Dialect, model: &str) -> (Vec<u8>, RequestHints) {
    let mut hints = RequestHints::default();
    let body = match dialect {
        Dialect::Anthropic => serde_json::json!({
            "model": model, "max_tokens": 1024, "stream": true,
            "messages": [{"role": "user", "content": "Say hello."}]
        }),
        Dialect::OpenAiChat => serde_json::json!({
            "model": model, "stream": true,
            "messages": [{"role": "user", "content": "Say hello."}]
        }),
        Dialect::OpenAiResponses => serde_json::json!({
            "model": model, "stream": true, "input": "Say hello."
        }),
        Dialect::Gemini => {
            hints.path_model = Some(model.to_owned());
            hints.path_stream = Some(true);
            hints.query = Some("alt=sse".to_owned());
            serde_json::json!({"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]})
        }
    };
    (serde_json::to_vec(&body).expect("json"), hints)
}

criterion_group!(
    benches,
    bench_decode,
    bench_request,
    bench_sse,
    bench_thinking,
    bench_translator
);
criterion_main!(benches);
