//! Changed-block lists: byte ranges of a disk known to have changed since
//! its previous recovery point.

use crate::error::{Error, Result};

/// A sorted set of disjoint, non-adjacent byte ranges `[start, end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    /// Builds a set from `(offset, length)` pairs in any order.
    pub fn from_extents(extents: impl IntoIterator<Item = (u64, u64)>) -> Result<Self> {
        let mut v: Vec<(u64, u64)> = Vec::new();
        for (off, len) in extents {
            let end = off.checked_add(len).ok_or_else(|| {
                Error::InvalidInput(format!("changed range {off}+{len} overflows"))
            })?;
            if len > 0 {
                v.push((off, end));
            }
        }
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        Ok(RangeSet { ranges: out })
    }

    /// True if any range intersects `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        // First range whose end is beyond `start`.
        let i = self.ranges.partition_point(|r| r.1 <= start);
        self.ranges.get(i).is_some_and(|r| r.0 < end)
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.ranges.iter().map(|r| r.1 - r.0).sum()
    }

    /// Parses a changed-ranges file: either JSON (`[[offset, length], …]` or
    /// `[{"offset": …, "length": …}, …]`, the latter as `qemu-img map
    /// --output=json` prints with `start`) or text with one `OFFSET LENGTH`
    /// (or `OFFSET,LENGTH`) pair per line, decimal or 0x-hex, `#` comments.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim_start();
        if t.starts_with('[') {
            return Self::parse_json(t);
        }
        let mut ext = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let parts: Vec<&str> = line
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .collect();
            let bad = || {
                Error::InvalidInput(format!(
                    "changed-ranges line {}: expected `OFFSET LENGTH`, got {line:?}",
                    n + 1
                ))
            };
            if parts.len() != 2 {
                return Err(bad());
            }
            ext.push((
                parse_num(parts[0]).ok_or_else(bad)?,
                parse_num(parts[1]).ok_or_else(bad)?,
            ));
        }
        Self::from_extents(ext)
    }

    fn parse_json(t: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(t)
            .map_err(|e| Error::InvalidInput(format!("changed-ranges JSON: {e}")))?;
        let bad = || {
            Error::InvalidInput("changed-ranges JSON: expected [[offset, length], …] or [{\"offset\": …, \"length\": …}, …]".into())
        };
        let arr = v.as_array().ok_or_else(bad)?;
        let mut ext = Vec::with_capacity(arr.len());
        for item in arr {
            let pair = if let Some(a) = item.as_array() {
                (
                    a.first().and_then(|x| x.as_u64()),
                    a.get(1).and_then(|x| x.as_u64()),
                )
            } else {
                let off = item
                    .get("offset")
                    .or_else(|| item.get("start"))
                    .and_then(|x| x.as_u64());
                (off, item.get("length").and_then(|x| x.as_u64()))
            };
            match pair {
                (Some(o), Some(l)) => ext.push((o, l)),
                _ => return Err(bad()),
            }
        }
        Self::from_extents(ext)
    }
}

fn parse_num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_overlap_table() {
        let s = RangeSet::from_extents([(100, 50), (0, 10), (140, 20), (10, 5), (500, 0)]).unwrap();
        assert_eq!(s.ranges(), &[(0, 15), (100, 160)]);
        for (a, b, want) in [
            (0, 1, true),
            (15, 100, false),
            (14, 15, true),
            (159, 400, true),
            (160, 400, false),
            (90, 101, true),
        ] {
            assert_eq!(s.overlaps(a, b), want, "{a}..{b}");
        }
        assert_eq!(s.total(), 75);
    }

    #[test]
    fn parse_formats() {
        let a = RangeSet::parse("# header\n0 4096\n0x2000,4096\n").unwrap();
        assert_eq!(a.ranges(), &[(0, 4096), (8192, 12288)]);
        let b = RangeSet::parse("[[0,4096],[8192,4096]]").unwrap();
        assert_eq!(a, b);
        let c = RangeSet::parse(r#"[{"offset":0,"length":4096},{"start":8192,"length":4096}]"#)
            .unwrap();
        assert_eq!(a, c);
        assert!(RangeSet::parse("1 2 3").is_err());
        assert!(RangeSet::parse("x 1").is_err());
        assert!(RangeSet::parse("[1]").is_err());
        assert!(RangeSet::parse("18446744073709551615 2").is_err());
    }
}
