//! Search latency as a user's memories grow: `cargo bench -p memory-mcp --bench search`.
//!
//! For 100, 1,000 and 10,000 memories of realistic length (8–40 words drawn from a
//! 2,000-word vocabulary with a Zipf-like skew), it times `memory::search` end to end on the
//! embedded store (load every memory of the user, rank with BM25, take the top 10) and the
//! ranking alone, over 200 queries each, and prints p50 / p95 / max in milliseconds.

use std::sync::Arc;
use std::time::Instant;

use memory_mcp::memory;
use memory_mcp::store::{EmbeddedStore, MAX_BATCH, Memory, Store, new_id};

/// A small deterministic generator (xorshift), so every run measures the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Zipf-like: small indices far more often.
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n) + 1;
        let b = self.below(a) + 1;
        b - 1
    }
}

fn vocabulary() -> Vec<String> {
    let syllables = [
        "ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "pa", "gu", "shi", "tor", "en", "ba",
    ];
    let mut words = Vec::new();
    for a in syllables {
        for b in syllables {
            for c in ["", "n", "s", "r", "ly", "ing", "ed", "er"] {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    words.truncate(2000);
    words
}

fn sentence(rng: &mut Rng, words: &[String]) -> String {
    let len = 8 + rng.below(33);
    (0..len)
        .map(|_| words[usize::try_from(rng.skewed(words.len() as u64)).unwrap_or(0)].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(label: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "{label:<34} p50 {:>8.3} ms   p95 {:>8.3} ms   max {:>8.3} ms",
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        samples.last().copied().unwrap_or(0.0)
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let words = vocabulary();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("bench.redb"))?);
    println!("search latency, embedded store, top 10 of 200 queries (release build)");
    let mut stored = 0usize;
    for target in [100usize, 1_000, 10_000] {
        let user = format!("user-{target}");
        let mut batch = Vec::new();
        let mut texts = Vec::new();
        for _ in 0..target {
            let text = sentence(&mut rng, &words);
            texts.push(text.clone());
            batch.push(Memory {
                user_id: user.clone(),
                memory_id: new_id(),
                text,
                created_at: 1_800_000_000,
            });
            if batch.len() == MAX_BATCH {
                store.add_memories(&batch).await?;
                batch.clear();
            }
        }
        store.add_memories(&batch).await?;
        stored += target;
        let average_words = texts.iter().map(|t| t.split(' ').count()).sum::<usize>() / texts.len();

        let queries: Vec<String> = (0..200)
            .map(|_| {
                (0..3)
                    .map(|_| words[usize::try_from(rng.below(400)).unwrap_or(0)].as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let mut end_to_end = Vec::new();
        let mut ranking = Vec::new();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for query in &queries {
            let started = Instant::now();
            let hits = memory::search(store.as_ref(), &user, query, Some(10)).await?;
            end_to_end.push(started.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(hits);
            let started = Instant::now();
            std::hint::black_box(memory::search::rank(query, &refs, 10));
            ranking.push(started.elapsed().as_secs_f64() * 1e3);
        }
        println!("{target:>6} memories (~{average_words} words each, {stored} in the store)");
        report("  search_memory (load + rank)", end_to_end);
        report("  rank only (BM25)", ranking);
    }
    Ok(())
}
