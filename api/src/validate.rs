//! Checks of every text field a client sends: lengths, character sets, no
//! control characters. Text is stored as given (queries are parameterized,
//! the console escapes on output), so markup or SQL in a description stays
//! inert text.

use serde_json::json;

use crate::{
    domain::IdentityKind,
    error::{ApiError, Result},
};

/// A refusal of the field `field` names: 422 with `details.field`.
pub fn refuse(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(message).with_details(json!({ "field": field }))
}

/// A display name or title: 1 to `max` characters, no control characters,
/// not only blanks.
pub fn name(field: &str, v: &str, max: usize) -> Result<()> {
    let n = v.chars().count();
    if n == 0 || v.trim().is_empty() || n > max {
        return Err(refuse(field, format!("{field} must be 1 to {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(refuse(field, format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// A contract's name: 1 to 64 ASCII letters, digits, `_`, `-` and `.`,
/// starting with a letter (it names downloaded files).
pub fn contract_name(v: &str) -> Result<()> {
    let ok = v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !ok {
        return Err(refuse(
            "name",
            "a contract name is 1 to 64 letters, digits, `_`, `-` and `.`, starting with a letter",
        ));
    }
    Ok(())
}

/// Free text (descriptions, opinions, purposes): at most `max` characters,
/// control characters other than newline and tab refused.
pub fn text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.chars().count() > max {
        return Err(refuse(field, format!("{field} must be at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(refuse(field, format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// A query filter compared with stored text: no control characters (NUL
/// cannot even be sent to PostgreSQL, which would fail the query), at most
/// 256 characters.
pub fn filter(field: &str, v: &str) -> Result<()> {
    if v.chars().count() > 256 || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "the {field} filter must be at most 256 characters without control characters"
        ))
        .with_details(json!({ "field": field })));
    }
    Ok(())
}

/// A file's path in a contract project: relative, `/`-separated, ending
/// in `.sol`, `.json` or `.md`, at most 200 characters, no empty, `.` or
/// `..` segment, no backslash, colon or control character.
pub fn source_path(field: &str, v: &str) -> Result<()> {
    let refused = |why: &str| Err(refuse(field, format!("{field} {why}")));
    if v.is_empty() || v.chars().count() > 200 {
        return refused("must be 1 to 200 characters");
    }
    if v.chars().any(|c| c.is_control() || c == '\\' || c == ':') {
        return refused("must not contain control characters, `\\` or `:`");
    }
    if v.starts_with('/') {
        return refused("must be relative, not absolute");
    }
    if v.split('/').any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.trim() != seg) {
        return refused("must not have empty, `.` or `..` segments, or segments with blanks at an end");
    }
    if ![".sol", ".json", ".md"].iter().any(|ext| v.len() > ext.len() && v.ends_with(ext)) {
        return refused("must name a `.sol`, `.json` or `.md` file");
    }
    Ok(())
}

/// An organization domain: lower-case DNS labels (`market.gov`), 3
/// characters or more and within what the host driver accepts, since the
/// domain names the organization's nodes and their certificates.
pub fn domain(v: &str) -> Result<()> {
    if v.len() < 3 {
        return Err(ApiError::invalid("domain must be at least 3 characters, e.g. market.gov"));
    }
    govchain_driver::validate::org_domain(v).map_err(|e| ApiError::invalid(e.to_string()))
}

/// A user name: 3 to 64 of `a-z A-Z 0-9 . _ -`.
pub fn username(v: &str) -> Result<()> {
    let ok = (3..=64).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("username must be 3 to 64 characters of a-z, A-Z, 0-9, '.', '_', '-'"))
    }
}

/// A chain name: 1 to 40 of `a-z 0-9 -`, starting with a letter.
pub fn chain_name(v: &str) -> Result<()> {
    let ok = (1..=40).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && v.as_bytes()[0].is_ascii_lowercase();
    if ok {
        Ok(())
    } else {
        Err(refuse("name", "chain name must be 1 to 40 characters of a-z, 0-9, '-', starting with a letter"))
    }
}

/// An identity document's number, checked for its kind: a resident
/// identity card's 18 characters (GB 11643: a valid birth date and the
/// ISO 7064 MOD 11-2 check character; a lowercase `x` is read as `X`) or a
/// passport's 5 to 17 letters and digits. Returns the number masked for
/// storage (a resident card keeps its region and last four characters, a
/// passport its first and last three): the full number is never stored.
pub fn identity_number(kind: IdentityKind, v: &str) -> Result<String> {
    let field = "number";
    let v = v.trim().to_ascii_uppercase();
    match kind {
        IdentityKind::ResidentId => {
            let b = v.as_bytes();
            let shape = b.len() == 18
                && b[..17].iter().all(u8::is_ascii_digit)
                && (b[17].is_ascii_digit() || b[17] == b'X');
            if !shape {
                return Err(refuse(field, "a resident identity number is 17 digits and a check digit or X"));
            }
            let num = |r: std::ops::Range<usize>| v[r].parse::<u32>().unwrap_or(0);
            let (year, month, day) = (num(6..10), num(10..12), num(12..14));
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let days = match month {
                1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                4 | 6 | 9 | 11 => 30,
                2 if leap => 29,
                2 => 28,
                _ => 0,
            };
            if !(1850..=2100).contains(&year) || day == 0 || day > days {
                return Err(refuse(
                    field,
                    "the birth date inside the resident identity number is not a date",
                ));
            }
            const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
            let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
            let check = b"10X98765432"[(sum % 11) as usize];
            if b[17] != check {
                return Err(refuse(
                    field,
                    "the resident identity number's check digit is wrong (a typing error?)",
                ));
            }
            Ok(format!("{}********{}", &v[..6], &v[14..]))
        }
        IdentityKind::Passport => {
            if !(5..=17).contains(&v.len()) || !v.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return Err(refuse(field, "a passport number is 5 to 17 letters and digits"));
            }
            Ok(format!("{}{}{}", &v[..1], "*".repeat(v.len() - 4), &v[v.len() - 3..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        assert!(domain("market.gov").is_ok());
        assert!(domain("Market.gov").is_err());
        assert!(domain("a..b").is_err());
        assert!(domain("x'; drop table orgs;--").is_err());
        assert!(username("alice_1").is_ok());
        assert!(username("<script>").is_err());
        assert!(chain_name("permits-2").is_ok());
        assert!(chain_name("2permits").is_err());
        assert!(name("name", "Market Supervision 市场监管局", 64).is_ok());
        assert!(name("name", "a\u{0}b", 64).is_err());
        assert!(name("name", "   ", 64).is_err());
        assert!(text("purpose", "line one\nline two", 100).is_ok());
        assert!(text("purpose", "bell\u{7}", 100).is_err());
        assert!(filter("actor", "alice").is_ok());
        assert!(filter("actor", "a\u{0}b").is_err());
    }

    #[test]
    fn identity_numbers() {
        let r = IdentityKind::ResidentId;
        assert_eq!(identity_number(r, "11010519491231002X").unwrap(), "110105********002X");
        assert_eq!(identity_number(r, " 11010519491231002x ").unwrap(), "110105********002X");
        assert_eq!(identity_number(r, "440524188001010014").unwrap(), "440524********0014");
        // One digit off: the check character catches it.
        assert!(identity_number(r, "110105194912310021").is_err());
        assert!(identity_number(r, "11010519491231002").is_err());
        assert!(identity_number(r, "11010519491331002X").is_err(), "month 13");
        assert!(identity_number(r, "11010519490230002X").is_err(), "30 February");
        assert!(identity_number(r, "1101051949123100２X").is_err(), "a full-width digit");
        let p = IdentityKind::Passport;
        assert_eq!(identity_number(p, "e12345678").unwrap(), "E*****678");
        assert!(identity_number(p, "E12").is_err());
        assert!(identity_number(p, "E1234-5678").is_err());
    }
}
