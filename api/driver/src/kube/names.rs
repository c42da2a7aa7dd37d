//! How platform names become Kubernetes names, and back: namespaces of
//! organizations, `Chain` names of chain ids, node names of pods, and the
//! resource quantities the driver writes and sums.

use crate::{Error, Result};

/// Label on everything the driver creates: `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`] (also the driver's field manager).
pub const MANAGER: &str = "govchain-api";
/// Label on a namespace (and on `Chain`s and `ChainMember`s): the
/// organization domain it belongs to.
pub const ORG_LABEL: &str = "govchain.io/org";
/// Label on `Chain`s and `ChainMember`s the driver creates: the platform's
/// chain id (its chain key), by which the driver finds them again.
pub const CHAIN_KEY_LABEL: &str = "govchain.io/chain-key";
/// Name of the ResourceQuota the driver keeps in every organization namespace.
pub const QUOTA_NAME: &str = "govchain";
/// Longest `Chain` name (`govchain_crds` rule: it names the chain's Services).
const MAX_CHAIN_NAME: usize = 40;
/// Longest label value.
const MAX_LABEL_VALUE: usize = 63;

/// Node group of a chain's consensus nodes in the owner's namespace.
pub const CONSENSUS_GROUP: &str = "node";
/// Node group of a chain's backup nodes in the owner's namespace.
pub const BACKUP_GROUP: &str = "backup";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The namespace of organization `org` (`market.gov` → `<prefix>market-gov`).
/// Two domains that differ only in `.` against `-` map to one namespace; the
/// namespace's [`ORG_LABEL`] tells them apart and the driver refuses the second.
pub fn namespace_of(prefix: &str, org: &str) -> Result<String> {
    let ns = format!("{prefix}{}", org.replace('.', "-"));
    if is_label(&ns) {
        Ok(ns)
    } else {
        Err(Error::Invalid(format!(
            "organization `{org}` does not make a Kubernetes namespace name with prefix `{prefix}` ({ns} is not a DNS label of at most 63 characters)"
        )))
    }
}

/// The `Chain` name of chain id `key`: the id itself when it is a DNS label
/// of at most 40 characters starting with a letter, else a shortened form
/// with a hash of the id (the id stays in `spec.chainId` and the
/// [`CHAIN_KEY_LABEL`]).
pub fn chain_name(key: &str) -> Result<String> {
    if key.len() > MAX_LABEL_VALUE || !is_label(key) {
        return Err(Error::Invalid(format!(
            "chain id `{key}` must be a DNS label of at most {MAX_LABEL_VALUE} characters on Kubernetes"
        )));
    }
    if key.len() <= MAX_CHAIN_NAME && key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Ok(key.to_owned());
    }
    // `c` + up to 22 characters of the id + `-` + 16 hex digits of its hash.
    let head: String = key.chars().take(22).collect();
    let head = head.trim_end_matches('-');
    Ok(format!("c{head}-{:016x}", fnv1a(key.as_bytes())))
}

/// FNV-1a, 64 bit: a stable hash (the std hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The `ChainMember` of an invited organization's nodes of one role.
pub fn member_name(chain: &str, backup: bool) -> String {
    if backup { format!("{chain}-backup") } else { chain.to_owned() }
}

/// A node's name: `<pod>.<namespace>` (the operator's node id and
/// certificate common name).
pub fn node_name(pod: &str, ns: &str) -> String {
    format!("{pod}.{ns}")
}

/// `(pod, namespace)` of a node name.
pub fn split_node_name(name: &str) -> Option<(&str, &str)> {
    name.split_once('.')
}

/// A resource quantity (`500m`, `256Mi`, `1Gi`, `2`, `1.5`) as a number of
/// base units (cores, bytes); `None` when it does not parse.
pub fn parse_quantity(q: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 14] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    let q = q.trim();
    let (num, factor) =
        SUFFIXES.iter().find_map(|(s, f)| q.strip_suffix(s).map(|n| (n, *f))).unwrap_or((q, 1.0));
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_get_dns_label_namespaces() {
        assert_eq!(namespace_of("govchain-", "market.gov").unwrap(), "govchain-market-gov");
        assert!(namespace_of("govchain-", &format!("{}.gov", "a".repeat(60))).is_err());
        assert!(namespace_of("Bad_", "a.gov").is_err());
    }

    #[test]
    fn chain_names_fit_the_crd_rules() {
        assert_eq!(chain_name("permits-0a1b2c3d").unwrap(), "permits-0a1b2c3d");
        let long = format!("{}-0a1b2c3d", "l".repeat(40));
        let n = chain_name(&long).unwrap();
        assert!(n.len() <= 40 && n.starts_with('c'), "{n}");
        assert_ne!(n, chain_name(&format!("{}-0a1b2c3e", "l".repeat(40))).unwrap());
        let digit = chain_name("1chain-00000000").unwrap();
        assert!(digit.starts_with('c') && digit.len() <= 40, "{digit}");
        assert_eq!(chain_name("1chain-00000000").unwrap(), digit, "stable");
        assert!(chain_name("Bad").is_err());
        assert!(chain_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn node_names_split_into_pod_and_namespace() {
        let n = node_name("c-node-0", "govchain-a-gov");
        assert_eq!(split_node_name(&n), Some(("c-node-0", "govchain-a-gov")));
        assert_eq!(split_node_name("nodot"), None);
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("256Mi"), Some(256.0 * 1_048_576.0));
        assert_eq!(parse_quantity("1Gi"), Some(1_073_741_824.0));
        assert_eq!(parse_quantity("1.5G"), Some(1.5e9));
        assert_eq!(parse_quantity("x"), None);
        assert_eq!(parse_quantity("-1"), None);
        assert_eq!(parse_quantity(""), None);
    }
}
