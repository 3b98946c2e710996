//! The bounded smoke run in `cargo test`: every target over its seed corpus
//! (the repository's fixtures and examples) and a few thousand deterministic
//! mutations of it. A crash the fuzzer finds goes into `regressions`.

use std::path::{Path, PathBuf};

/// Mutations per target.
const MUTATIONS: usize = 5000;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the formats under test.
const INTERESTING: &[u8] = b"\0\xff\x7f{}[]\":,.\n\r \\dtaevn:0123";

/// One to four edits of `input`, sometimes splicing in part of `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                let copy = out[at.min(end)..end].to_vec();
                out.splice(at..at, copy);
            }
            5 => out.truncate(at),
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(256)).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            _ => {}
        }
    }
    out
}

/// Run `target` over `seeds` and `MUTATIONS` mutations of them.
fn smoke(target: fn(&[u8]), seeds: &[Vec<u8>]) {
    assert!(!seeds.is_empty(), "no seeds found");
    for seed in seeds {
        target(seed);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..MUTATIONS {
        let input = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        target(&mutate(&mut rng, input, other));
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Every file under `dir` whose name ends with one of `suffixes`.
fn files(dir: &Path, suffixes: &[&str], found: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            files(&path, suffixes, found);
        } else if suffixes.iter().any(|s| path.to_string_lossy().ends_with(s)) {
            found.push(std::fs::read(&path).unwrap());
        }
    }
}

fn seeds(dir: &str, suffixes: &[&str]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    files(&repo(dir), suffixes, &mut found);
    found
}

/// Framer seeds: each stream with a prefix that cuts it into varied pieces.
fn framed(streams: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let cuts: [&[u8]; 3] = [&[3, 1, 7, 64], &[1], &[255, 2, 9, 33, 5, 128, 17, 4, 11]];
    let mut out = Vec::new();
    for (i, stream) in streams.into_iter().enumerate() {
        let cut = cuts[i % cuts.len()];
        let mut seed = vec![cut.len() as u8];
        seed.extend_from_slice(cut);
        seed.extend_from_slice(&stream);
        out.push(seed);
    }
    out
}

#[test]
fn fuzzing_smoke_workflow() {
    let mut corpus = seeds("examples/workflows", &[".json"]);
    corpus.extend(regressions::WORKFLOW.iter().map(|s| s.to_vec()));
    smoke(super::workflow, &corpus);
}

#[test]
fn fuzzing_smoke_sse() {
    let mut corpus = framed(seeds("tests/fixtures", &[".sse"]));
    corpus.extend(regressions::SSE.iter().map(|s| s.to_vec()));
    // Found by cargo fuzz: a value just under the bound in a line just over
    // it, read a byte at a time, tripped the bound only when cut.
    let mut found = vec![1, 1];
    found.extend(format!("data: {}\r\n\r\n", "v".repeat(4092)).bytes());
    corpus.push(found);
    smoke(super::sse, &corpus);
}

#[test]
fn fuzzing_smoke_eventstream() {
    let corpus = framed(seeds("tests/fixtures/bedrock", &[".bin"]));
    smoke(super::eventstream, &corpus);
}

#[test]
fn fuzzing_smoke_template() {
    let mut corpus: Vec<Vec<u8>> = regressions::TEMPLATE.iter().map(|s| s.to_vec()).collect();
    // Every string in the example workflows, templates or not.
    for workflow in seeds("examples/workflows", &[".json"]) {
        let value: serde_json::Value = serde_json::from_slice(&workflow).unwrap();
        strings(&value, &mut corpus);
    }
    smoke(super::template, &corpus);
}

fn strings(value: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone().into_bytes()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Inputs worth keeping: edge cases written by hand, and any crash a fuzzing
/// run finds (each becomes a line here).
mod regressions {
    pub const WORKFLOW: &[&[u8]] = &[
        br#"{"name":"c","nodes":[{"id":"a","node_type":"template","template":"{{nodes.b.output}}"},{"id":"b","node_type":"template","template":"{{nodes.a.output}}"}]}"#,
        br#"{"name":"x","inputs":{"q":{"type":"string","default":1}},"nodes":[]}"#,
        br#"{"name":"","nodes":[{"id":"","node_type":"llm","config":{}}],"output":"{{"}"#,
        b"[]",
        b"",
    ];
    pub const SSE: &[&[u8]] = &[
        b"\x02\x01\x01\xef\xbb\xbfdata: a\r\n\r\ndata:b\r\rdata\n\n: comment\nevent: e\ndata: c",
        b"\x00data: \xff\xfe\n\n",
    ];
    pub const TEMPLATE: &[&[u8]] = &[
        b"{{inputs.x}}",
        b"{{ nodes.n.output.json.k.1 }} and {{inputs.x.a.2.b}}",
        b"{{{inputs.x.s}}}",
        b"}}{{",
        b"{{",
        b"{{inputs.}}",
        b"{{nodes.n.output.text.999999999999999999999}}",
    ];
}
