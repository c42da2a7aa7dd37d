//! `pragma solidity` version constraints: is one floating, and does it
//! admit a compiler older than 0.8.0 (no checked arithmetic)?

/// A version `major.minor.patch`.
type Version = (u64, u64, u64);

/// What a `pragma solidity` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// It allows more than one compiler version.
    pub floating: bool,
    /// It allows a version below 0.8.0.
    pub admits_pre_08: bool,
}

/// Reads the text after `pragma solidity` (e.g. `^0.8.20`,
/// `>=0.6.0 <0.9.0`, `0.8.37 || ^0.7.0`); `None` if it cannot be read.
pub fn parse(constraint: &str) -> Option<Constraint> {
    let mut floating = false;
    let mut admits_pre_08 = false;
    let alternatives: Vec<&str> = constraint.split("||").map(str::trim).collect();
    if alternatives.len() > 1 {
        floating = true;
    }
    for alt in alternatives {
        let (lo, hi, exact) = range(alt)?;
        floating |= !exact;
        admits_pre_08 |= lo < (0, 8, 0) && lo < hi;
    }
    Some(Constraint { floating, admits_pre_08 })
}

/// The half-open range `[lo, hi)` one alternative allows, and whether it
/// names exactly one version.
fn range(alt: &str) -> Option<(Version, Version, bool)> {
    const MAX: Version = (u64::MAX, 0, 0);
    if let Some((a, b)) = alt.split_once(" - ") {
        let (lo, _) = partial(a.trim())?;
        let (hi, parts) = partial(b.trim())?;
        return Some((lo, next(hi, parts.max(3)), false));
    }
    let (mut lo, mut hi) = ((0, 0, 0), MAX);
    let mut exact = false;
    // Operators may be written apart from their version (`>= 0.6.0`).
    let joined = alt.replace(">= ", ">=").replace("<= ", "<=").replace("> ", ">").replace("< ", "<");
    let joined = joined.replace("^ ", "^").replace("~ ", "~").replace("= ", "=");
    let terms: Vec<&str> = joined.split_whitespace().collect();
    if terms.is_empty() {
        return None;
    }
    for term in &terms {
        let op_len = term.find(|c: char| c.is_ascii_digit() || c == '*' || c == 'x' || c == 'X')?;
        let (op, v) = term.split_at(op_len);
        let (v, parts) = partial(v)?;
        let (l, h) = match op {
            "" | "=" => {
                exact = parts == 3 && terms.len() == 1;
                (v, next(v, parts))
            }
            ">=" => (v, MAX),
            ">" => (next(v, parts), MAX),
            "<" => ((0, 0, 0), v),
            "<=" => ((0, 0, 0), next(v, parts)),
            "^" => (v, caret(v, parts)),
            "~" => (v, next(v, parts.min(2))),
            _ => return None,
        };
        lo = lo.max(l);
        hi = hi.min(h);
    }
    Some((lo, hi, exact))
}

/// A version with 1 to 3 parts (`*` or `x` ends it); gives the parts
/// given.
fn partial(text: &str) -> Option<(Version, usize)> {
    let mut parts = [0u64; 3];
    let mut given = 0;
    for piece in text.split('.') {
        if matches!(piece, "*" | "x" | "X") {
            break;
        }
        if given == 3 {
            return None;
        }
        parts[given] = piece.parse().ok()?;
        given += 1;
    }
    Some(((parts[0], parts[1], parts[2]), given))
}

/// The first version after all those starting with the first `parts`
/// parts of `v`.
fn next(v: Version, parts: usize) -> Version {
    match parts {
        0 => (u64::MAX, 0, 0),
        1 => (v.0.saturating_add(1), 0, 0),
        2 => (v.0, v.1.saturating_add(1), 0),
        _ => (v.0, v.1, v.2.saturating_add(1)),
    }
}

/// The end of `^v`: the next version changing the first non-zero part.
fn caret(v: Version, parts: usize) -> Version {
    if v.0 > 0 || parts == 1 {
        next(v, 1)
    } else if v.1 > 0 || parts == 2 {
        next(v, 2)
    } else {
        next(v, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> (bool, bool) {
        let c = parse(text).unwrap();
        (c.floating, c.admits_pre_08)
    }

    #[test]
    fn constraints_are_read() {
        assert_eq!(c("0.8.37"), (false, false));
        assert_eq!(c("=0.8.20"), (false, false));
        assert_eq!(c("^0.8.20"), (true, false));
        assert_eq!(c("^0.7.6"), (true, true));
        assert_eq!(c(">=0.6.0 <0.9.0"), (true, true));
        assert_eq!(c(">= 0.8.0 < 0.9.0"), (true, false));
        assert_eq!(c(">0.7.6"), (true, true));
        assert_eq!(c(">=0.8.0"), (true, false));
        assert_eq!(c("<=0.7"), (true, true));
        assert_eq!(c("~0.8.1"), (true, false));
        assert_eq!(c("0.8"), (true, false));
        assert_eq!(c("0.8.37 || ^0.7.0"), (true, true));
        assert_eq!(c("0.7.0 - 0.8.20"), (true, true));
        assert_eq!(c("*"), (true, true));
        assert_eq!(c(">=0.8.0 <0.8.0"), (true, false));
        assert!(parse("abc").is_none());
        assert!(parse("").is_none());
        assert!(parse("1.2.3.4").is_none());
    }
}
