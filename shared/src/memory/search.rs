//! Ranking memories for a query: Okapi BM25 (k1 = 1.2, b = 0.75) over lower-cased
//! alphanumeric tokens, with a light suffix stemmer so "meeting" finds "meetings"; ties go to
//! the newer memory. Pure and allocation-light: each call tokenises the candidate texts once.
//!
//! Hand-written rather than a search-engine crate: a per-user corpus is small (thousands of
//! short texts, loaded per request in a stateless function), so an index that must be built or
//! stored would cost more than scoring directly.

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Calls `f` with each normalised term of `text` (lower-cased, lightly stemmed), reusing one
/// buffer so scoring thousands of memories allocates almost nothing.
fn for_each_term(text: &str, mut f: impl FnMut(&str)) {
    let mut buf = String::new();
    for raw in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
    {
        buf.clear();
        if raw.is_ascii() {
            buf.push_str(raw);
            buf.make_ascii_lowercase();
        } else {
            buf.extend(raw.chars().flat_map(char::to_lowercase));
        }
        f(stem(&buf));
    }
}

/// The normalised terms of `text`.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for_each_term(text, |t| terms.push(t.to_owned()));
    terms
}

/// Strips a plural `s`, then an `-ing` or `-ed`, from longer words ("meetings" and "meeting"
/// both become "meet").
fn stem(word: &str) -> &str {
    let mut word = word;
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word = &word[..word.len() - 1];
    }
    for suffix in ["ing", "ed"] {
        if word.len() > suffix.len() + 3
            && let Some(stripped) = word.strip_suffix(suffix)
        {
            return stripped;
        }
    }
    word
}

/// The BM25 score of every document for `query`, in document order; documents sharing no term
/// score 0.
pub fn bm25(query: &str, documents: &[&str]) -> Vec<f64> {
    let mut terms = tokenize(query);
    terms.sort();
    terms.dedup();
    if terms.is_empty() || documents.is_empty() {
        return vec![0.0; documents.len()];
    }
    let width = terms.len();
    // Term frequencies, one row of `width` counts per document.
    let mut tf = vec![0u32; documents.len() * width];
    let mut lengths = Vec::with_capacity(documents.len());
    let mut document_frequency = vec![0u32; width];
    for (d, doc) in documents.iter().enumerate() {
        let row = &mut tf[d * width..(d + 1) * width];
        let mut length = 0u32;
        for_each_term(doc, |token| {
            length += 1;
            if let Ok(i) = terms.binary_search_by(|t| t.as_str().cmp(token)) {
                row[i] += 1;
            }
        });
        for (i, &count) in row.iter().enumerate() {
            if count > 0 {
                document_frequency[i] += 1;
            }
        }
        lengths.push(f64::from(length));
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
    tf.chunks_exact(width)
        .zip(&lengths)
        .map(|(row, &length)| {
            let norm = K1 * (1.0 - B + B * length / average);
            row.iter()
                .zip(&idf)
                .filter(|(f, _)| **f > 0)
                .map(|(&f, idf)| {
                    let f = f64::from(f);
                    idf * f * (K1 + 1.0) / (f + norm)
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
