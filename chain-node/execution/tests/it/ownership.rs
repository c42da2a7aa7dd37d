//! Each key belongs to the organization that first put it.

use govchain_execution::{DataCall, Entry};

use crate::common::*;

#[test]
fn other_organizations_may_read_but_not_change() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("permit/7", "ok"));
    let msg = failed(&c.run("OrgB", &put("permit/7", "mine now")));
    assert!(msg.starts_with("permission denied:"), "{msg}");
    assert!(msg.contains("own organization's data only"), "{msg}");
    assert!(msg.contains("`OrgA`") && msg.contains("`OrgB`"), "{msg}");
    let msg = failed(&c.run("OrgB", &del("permit/7")));
    assert!(msg.contains("own organization's data only"), "{msg}");
    let msg = failed(&c.run("OrgB", &DataCall::BatchDelete { keys: vec!["permit/7".into()] }));
    assert!(msg.contains("own organization's data only"), "{msg}");
    let out = c.run_ok("OrgB", &get("permit/7"));
    assert_eq!(out["value"], "ok");
    assert_eq!(out["owner"], "OrgA");
    c.run_ok("OrgA", &put("permit/7", "renewed"));
}

#[test]
fn ownership_survives_a_delete() {
    let mut c = Chain::new();
    c.run_ok("OrgA", &put("k", "v"));
    c.run_ok("OrgA", &del("k"));
    let msg = failed(&c.run("OrgB", &put("k", "takeover")));
    assert!(msg.contains("belongs to organization `OrgA`"), "{msg}");
    let out = c.run_ok("OrgA", &put("k", "back"));
    assert_eq!(out["created"], true, "no value before the put");
    assert_eq!(out["owner"], "OrgA");
}

#[test]
fn a_batch_touching_another_organizations_key_changes_nothing() {
    let mut c = Chain::new();
    c.run_ok("OrgB", &put("b", "B"));
    let batch = DataCall::BatchPut {
        entries: vec![
            Entry { key: "a".into(), value: "A".into() },
            Entry { key: "b".into(), value: "A".into() },
        ],
    };
    failed(&c.run("OrgA", &batch));
    assert_eq!(c.run_ok("OrgA", &get("a"))["found"], false);
    assert_eq!(c.run_ok("OrgA", &get("b"))["value"], "B");
}
