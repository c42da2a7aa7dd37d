//! Human-readable reasons for reverted and halted runs.

use revm::context_interface::result::HaltReason;

/// Selector of `Error(string)`, what `require(cond, "reason")` reverts with.
const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
/// Selector of `Panic(uint256)`, what failed asserts and checked
/// arithmetic revert with.
const PANIC_SELECTOR: [u8; 4] = [0x4e, 0x48, 0x7b, 0x71];
/// Longest reason kept in a receipt, in characters; receipts are stored
/// forever and revert data is chosen by the contract.
const MAX_REASON_CHARS: usize = 512;
/// Most revert data bytes shown in hex when it is not decodable.
const MAX_DATA_BYTES: usize = 256;

/// The reason a run reverted with `data`.
pub(super) fn reason(data: &[u8]) -> String {
    if data.is_empty() {
        return "no reason given".into();
    }
    if let Some(text) = data.strip_prefix(&ERROR_SELECTOR).and_then(abi_string) {
        return truncate(&text);
    }
    if let Some(code) = data.strip_prefix(&PANIC_SELECTOR).and_then(word) {
        return format!("panic 0x{code:02x} ({})", panic_name(code));
    }
    let shown = &data[..data.len().min(MAX_DATA_BYTES)];
    let more = if data.len() > MAX_DATA_BYTES { "…" } else { "" };
    format!("revert data 0x{}{more}", hex::encode(shown))
}

/// Why a run halted, in words.
pub(super) fn halt(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::CreateContractSizeLimit => {
            format!("deployed code exceeds the limit of {} bytes (EIP-170)", super::MAX_CODE_SIZE)
        }
        HaltReason::CreateInitCodeSizeLimit => {
            format!("init code exceeds the limit of {} bytes (EIP-3860)", super::MAX_INITCODE_SIZE)
        }
        other => truncate(&other.to_string()),
    }
}

fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_REASON_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// A small ABI `uint256` word as a number, if it fits 64 bits.
fn word(data: &[u8]) -> Option<u64> {
    let w = data.get(..32)?;
    if w[..24].iter().any(|&b| b != 0) {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&w[24..]);
    Some(u64::from_be_bytes(bytes))
}

/// An ABI-encoded single `string` argument: an offset word, then at that
/// offset a length word and the bytes. Refuses anything out of bounds.
fn abi_string(args: &[u8]) -> Option<String> {
    let offset = usize::try_from(word(args)?).ok()?;
    let tail = args.get(offset..)?;
    let len = usize::try_from(word(tail)?).ok()?;
    let bytes = tail.get(32..)?.get(..len)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

fn panic_name(code: u64) -> &'static str {
    match code {
        0x00 => "generic panic",
        0x01 => "assertion failed",
        0x11 => "arithmetic overflow or underflow",
        0x12 => "division or modulo by zero",
        0x21 => "invalid enum value",
        0x22 => "invalid storage byte array",
        0x31 => "pop on an empty array",
        0x32 => "array index out of bounds",
        0x41 => "too much memory allocated",
        0x51 => "call of an uninitialized function",
        _ => "unknown panic code",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn error_string(text: &str) -> Vec<u8> {
        let mut out = ERROR_SELECTOR.to_vec();
        let mut w = [0u8; 32];
        w[31] = 0x20;
        out.extend_from_slice(&w);
        w = [0u8; 32];
        w[24..].copy_from_slice(&(text.len() as u64).to_be_bytes());
        out.extend_from_slice(&w);
        out.extend_from_slice(text.as_bytes());
        out.resize(out.len() + (32 - text.len() % 32) % 32, 0);
        out
    }

    #[test]
    fn error_strings_and_panics_are_decoded() {
        assert_eq!(reason(&error_string("not the owner")), "not the owner");
        assert_eq!(reason(&error_string("余额不足")), "余额不足");
        let mut panic = PANIC_SELECTOR.to_vec();
        let mut w = [0u8; 32];
        w[31] = 0x11;
        panic.extend_from_slice(&w);
        assert_eq!(reason(&panic), "panic 0x11 (arithmetic overflow or underflow)");
        assert_eq!(reason(&[]), "no reason given");
    }

    #[test]
    fn malformed_or_custom_revert_data_is_shown_in_hex_without_panicking() {
        assert_eq!(reason(&[0xde, 0xad, 0xbe, 0xef]), "revert data 0xdeadbeef");
        // A selector with a length pointing past the end.
        let mut bad = error_string("abc");
        bad[4 + 32 + 31] = 0xff;
        assert!(reason(&bad).starts_with("revert data 0x08c379a0"));
        // An offset of 2^64-1.
        let mut huge = ERROR_SELECTOR.to_vec();
        huge.extend_from_slice(&[0; 24]);
        huge.extend_from_slice(&[0xff; 8]);
        assert!(reason(&huge).starts_with("revert data"));
        assert!(reason(&ERROR_SELECTOR).starts_with("revert data"));
        let long = reason(&vec![1u8; 10_000]);
        assert!(long.len() < 600 && long.ends_with('…'));
        assert_eq!(reason(&error_string(&"x".repeat(2000))).chars().count(), MAX_REASON_CHARS + 1);
    }
}
