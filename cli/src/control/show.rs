//! Human-readable output: aligned tables and times.

/// Cells wider than this are cut (with `…`) so a long purpose or detail
/// does not push the other columns off the screen; the last column, with
/// nothing to push, is never cut, and `--json` shows everything.
const MAX_CELL: usize = 48;

/// Terminal columns a character takes: East Asian wide and full-width
/// characters take two (organization names are often Chinese).
fn char_width(c: char) -> usize {
    let wide = matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

/// Terminal columns a text takes.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// One line of `s`, at most `max` columns.
fn cell(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if width(&s) <= max {
        return s;
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        if w + char_width(c) > max.saturating_sub(1) {
            break;
        }
        w += char_width(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// Renders rows under headers, columns aligned; "(none)" when empty.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "(none)\n".into();
    }
    let last = headers.len().saturating_sub(1);
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, c)| cell(c, if i == last { usize::MAX } else { MAX_CELL }))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(c));
            }
        }
    }
    let mut out = String::new();
    let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for r in std::iter::once(&headers).chain(&rows) {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(width(c)) + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in ms since 1970; `-` for 0.
pub fn time(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `-` for an empty text.
pub fn or_dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.to_owned() }
}

/// `-` for nothing.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(0), "-");
        assert_eq!(time(1), "1970-01-01 00:00:00");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(time(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(time(4_102_444_799_000), "2099-12-31 23:59:59");
    }

    #[test]
    fn tables_align_wide_characters_and_cut_long_cells() {
        let t = table(
            &["ID", "NAME", "STATUS"],
            &[
                vec!["1".into(), "市场监管局".into(), "active".into()],
                vec!["22".into(), "tax".into(), "pending".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID  NAME        STATUS");
        assert_eq!(lines[1], "1   市场监管局  active");
        assert_eq!(lines[2], "22  tax         pending");
        let long = "x".repeat(100);
        let t = table(&["A", "B"], &[vec![long.clone(), long]]);
        let row = t.lines().nth(1).unwrap();
        assert_eq!(width(row), MAX_CELL + 2 + 100, "only the last column is kept whole: {row}");
        assert!(row.starts_with(&format!("{}…  x", "x".repeat(MAX_CELL - 1))), "{row}");
        assert_eq!(table(&["A"], &[]), "(none)\n");
    }
}
