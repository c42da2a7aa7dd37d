//! Checks of every text field a client sends: lengths, character sets, no
//! control characters. Text is stored as given (queries are parameterized,
//! the console escapes on output), so markup or SQL in a description stays
//! inert text.

use serde_json::json;

use crate::error::{ApiError, Result};

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
}
