//! Chunk-range bookkeeping: which chunk indexes of a transfer are held, as sorted,
//! disjoint, half-open ranges (what `FREQ` carries and `transfer_chunks` stores).

/// A set of chunk indexes as sorted, disjoint, non-touching `[start, end)` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Builds the set from any ranges (unsorted, overlapping, empty ones ignored).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Ranges {
        let mut set = Ranges::default();
        for (s, e) in ranges {
            set.insert(s, e);
        }
        set
    }

    /// Adds `[start, end)`, merging with neighbours.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        // The first range that ends at or after `start` (it may touch or overlap).
        let first = self.0.partition_point(|&(_, e)| e < start);
        let mut last = first;
        while last < self.0.len() && self.0[last].0 <= end {
            start = start.min(self.0[last].0);
            end = end.max(self.0[last].1);
            last += 1;
        }
        self.0.splice(first..last, [(start, end)]);
    }

    /// Adds one index.
    pub fn insert_one(&mut self, index: u64) {
        self.insert(index, index.saturating_add(1));
    }

    /// Whether `index` is in the set.
    pub fn contains(&self, index: u64) -> bool {
        let i = self.0.partition_point(|&(_, e)| e <= index);
        self.0.get(i).is_some_and(|&(s, _)| s <= index)
    }

    /// How many indexes the set holds.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|&(s, e)| e - s).sum()
    }

    /// Whether every index of `0..total` is in the set.
    pub fn covers(&self, total: u64) -> bool {
        total == 0 || self.0.first() == Some(&(0, total)) || self.count_below(total) == total
    }

    fn count_below(&self, total: u64) -> u64 {
        self.0
            .iter()
            .map(|&(s, e)| e.min(total).saturating_sub(s.min(total)))
            .sum()
    }

    /// The ranges of `0..total` not in the set, in order.
    pub fn missing(&self, total: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0;
        for &(s, e) in &self.0 {
            if s >= total {
                break;
            }
            if s > at {
                out.push((at, s));
            }
            at = at.max(e);
        }
        if at < total {
            out.push((at, total));
        }
        out
    }

    /// The ranges, sorted.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Keeps the first `max` ranges (a `FREQ` carries at most
    /// [`crate::peer::files::MAX_RANGES`]; the rest is simply fetched again).
    pub fn first(&self, max: usize) -> Vec<(u64, u64)> {
        self.0.iter().take(max).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_merge_touching_and_overlapping_ranges() {
        let mut r = Ranges::default();
        r.insert(5, 7);
        r.insert(0, 2);
        r.insert(2, 3);
        assert_eq!(r.as_slice(), &[(0, 3), (5, 7)]);
        r.insert(3, 5);
        assert_eq!(r.as_slice(), &[(0, 7)]);
        r.insert(10, 12);
        r.insert(1, 11);
        assert_eq!(r.as_slice(), &[(0, 12)]);
        r.insert(4, 4);
        assert_eq!(r.count(), 12);
    }

    #[test]
    fn contains_missing_and_covers() {
        let r = Ranges::from_ranges([(2, 4), (6, 7)]);
        assert!(!r.contains(1) && r.contains(2) && r.contains(3) && !r.contains(4));
        assert!(r.contains(6) && !r.contains(7));
        assert_eq!(r.missing(9), vec![(0, 2), (4, 6), (7, 9)]);
        assert_eq!(r.missing(3), vec![(0, 2)]);
        assert!(!r.covers(7));
        assert!(Ranges::from_ranges([(0, 3), (3, 9)]).covers(9));
        assert!(Ranges::from_ranges([(0, 10)]).covers(9));
        assert_eq!(Ranges::default().missing(2), vec![(0, 2)]);
        assert!(Ranges::from_ranges([(0, 9)]).missing(9).is_empty());
    }
}
