//! Did-you-mean suggestions for misspelt keys, event types and names.

/// The candidate closest to `word`, when it is close enough to be what was meant.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, candidate)| {
            // One edit per three letters: 'remnd' -> 'remind', not 'due' -> 'title'.
            *distance > 0 && *distance <= (word.len().max(candidate.len()) / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["title", "due", "remind", "escalate", "met_by"];
        assert_eq!(closest("remnd", keys), Some("remind"));
        assert_eq!(closest("escalte", keys), Some("escalate"));
        assert_eq!(closest("metby", keys), Some("met_by"));
        assert_eq!(closest("owner", keys), None);
    }
}
