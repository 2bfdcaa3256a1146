//! Ranking memories for a query: Okapi BM25 (k1 = 1.2, b = 0.75) over lower-cased
//! alphanumeric tokens, with a light suffix stemmer so "meeting" finds "meetings"; ties go to
//! the newer memory. Pure and allocation-light: each call tokenises the candidate texts once.
//!
//! Hand-written rather than a search-engine crate: a per-user corpus is small (thousands of
//! short texts, loaded per request in a stateless function), so an index that must be built or
//! stored would cost more than scoring directly.

use std::collections::HashMap;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Splits text into normalised terms.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| stem(&t.to_lowercase()))
}

/// Strips a plural `s`, then an `-ing` or `-ed`, from longer words ("meetings" and "meeting"
/// both become "meet").
fn stem(word: &str) -> String {
    let mut word = word;
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word = &word[..word.len() - 1];
    }
    for suffix in ["ing", "ed"] {
        if word.len() > suffix.len() + 3
            && let Some(stripped) = word.strip_suffix(suffix)
        {
            return stripped.to_owned();
        }
    }
    word.to_owned()
}

/// The BM25 score of every document for `query`, in document order; documents sharing no term
/// score 0.
pub fn bm25(query: &str, documents: &[&str]) -> Vec<f64> {
    let mut terms: Vec<String> = tokenize(query).collect();
    terms.sort();
    terms.dedup();
    if terms.is_empty() || documents.is_empty() {
        return vec![0.0; documents.len()];
    }
    let mut lengths = Vec::with_capacity(documents.len());
    let mut frequencies: Vec<HashMap<usize, u32>> = Vec::with_capacity(documents.len());
    let mut document_frequency = vec![0u32; terms.len()];
    for doc in documents {
        let mut tf: HashMap<usize, u32> = HashMap::new();
        let mut length = 0usize;
        for token in tokenize(doc) {
            length += 1;
            if let Ok(i) = terms.binary_search(&token) {
                *tf.entry(i).or_default() += 1;
            }
        }
        for i in tf.keys() {
            document_frequency[*i] += 1;
        }
        lengths.push(length as f64);
        frequencies.push(tf);
    }
    let n = documents.len() as f64;
    let average = (lengths.iter().sum::<f64>() / n).max(1.0);
    let idf: Vec<f64> = document_frequency
        .iter()
        .map(|&df| {
            let df = f64::from(df);
            ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
        })
        .collect();
    frequencies
        .iter()
        .zip(&lengths)
        .map(|(tf, &length)| {
            tf.iter()
                .map(|(&i, &f)| {
                    let f = f64::from(f);
                    idf[i] * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * length / average))
                })
                .sum()
        })
        .collect()
}

/// Indices of the `limit` best documents with a positive score, best first. `documents` must
/// be newest first: among equal scores the earlier (newer) one wins.
pub fn rank(query: &str, documents: &[&str], limit: usize) -> Vec<(usize, f64)> {
    let scores = bm25(query, documents);
    let mut ranked: Vec<(usize, f64)> = scores
        .into_iter()
        .enumerate()
        .filter(|(_, s)| *s > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(limit);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relevant_memory_ranks_first() {
        let docs = [
            "Ada prefers tea in the morning",
            "The quarterly planning meeting is on Tuesdays",
            "Ada's cat is called Babbage",
        ];
        let ranked = rank("when is the planning meeting", &docs, 10);
        assert_eq!(ranked.first().map(|r| r.0), Some(1));
        assert!(
            rank("meetings", &docs, 10).iter().any(|r| r.0 == 1),
            "stemming"
        );
        assert!(rank("zebra", &docs, 10).is_empty());
    }

    #[test]
    fn rarer_terms_weigh_more_and_ties_go_to_the_newer() {
        let docs = ["likes green tea", "likes coffee", "likes green apples"];
        let ranked = rank("green coffee", &docs, 10);
        assert_eq!(ranked.first().map(|r| r.0), Some(1), "{ranked:?}");
        let same = ["dentist on friday", "dentist on friday"];
        assert_eq!(rank("dentist", &same, 10).first().map(|r| r.0), Some(0));
    }
}
