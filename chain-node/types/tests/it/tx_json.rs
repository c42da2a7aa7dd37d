//! The JSON form of a transaction refuses fields it does not know, and the
//! time window a transaction's timestamp must lie in.

use govchain_crypto::{PrivateKey, Suite};
use govchain_types::{MAX_TX_AGE_MS, MAX_TX_FUTURE_MS, Transaction, TxType};
use serde_json::Value;

use crate::roundtrip::signed_tx;

#[test]
fn unknown_json_fields_are_refused_by_name() {
    let key = PrivateKey::generate(Suite::IntlR1);
    let tx = signed_tx(Suite::IntlR1, &key, 1);
    let json = serde_json::to_value(&tx).unwrap();
    assert_eq!(serde_json::from_value::<Transaction>(json.clone()).unwrap(), tx);
    let paths: [(&[&str], &str); 3] =
        [(&[], "extra"), (&["body"], "fee"), (&["body", "signers", "0"], "role")];
    for (path, field) in paths {
        let mut v = json.clone();
        let mut at = &mut v;
        for p in path {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at[field] = Value::from(1);
        let err = serde_json::from_value::<Transaction>(v).unwrap_err().to_string();
        assert!(err.contains(&format!("unknown field `{field}`")), "{err}");
    }
}

#[test]
fn transaction_types_are_named_as_in_json() {
    for t in [TxType::Invoke, TxType::EvmCreate, TxType::EvmCall, TxType::System] {
        assert_eq!(serde_json::to_value(t).unwrap(), Value::from(t.as_str()));
        assert_eq!(t.to_string(), t.as_str());
    }
}

#[test]
fn the_time_window_bounds_both_sides() {
    let key = PrivateKey::generate(Suite::IntlR1);
    let body = signed_tx(Suite::IntlR1, &key, 1).body;
    let ts = body.timestamp_ms;
    assert!(body.in_time_window(ts));
    assert!(body.in_time_window(ts + MAX_TX_AGE_MS));
    assert!(!body.in_time_window(ts + MAX_TX_AGE_MS + 1));
    assert!(body.in_time_window(ts - MAX_TX_FUTURE_MS));
    assert!(!body.in_time_window(ts - MAX_TX_FUTURE_MS - 1));
    let far = govchain_types::TxBody { timestamp_ms: u64::MAX, ..body.clone() };
    assert!(!far.in_time_window(0) && far.in_time_window(u64::MAX));
}
