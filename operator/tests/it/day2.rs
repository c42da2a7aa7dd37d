//! Day-2 operations on one 4-node raft chain, driven with kubectl: scale
//! 4 -> 5 (the new node joins consensus and catches up) -> 4 (it leaves
//! consensus before its pod goes), a version roll one pod at a time, a forced
//! certificate renewal, stop and start. Transactions commit after every step
//! and while the nodes roll.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use govchain_crds::Chain;
use govchain_crypto::{PrivateKey, Suite};
use govchain_execution::DataCall;
use govchain_operator::{
    names::{Names, pod_of_node},
    nodes::{Admin, ConsensusMember},
    render,
};
use govchain_sdk::{Client, Wallet};
use govchain_types::{BlockPolicy, api::SubmitMode};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{Api, api::ListParams};
use tokio::task::JoinHandle;

use crate::env::Env;

const NS: &str = "dept-ops";
const CHAIN: &str = "ops-ledger";
const STEP_TIMEOUT: Duration = Duration::from_secs(300);
const COMMIT_TIMEOUT: Duration = Duration::from_secs(90);
const NEW_VERSION: &str = "0.1.1";
const RENEWAL: &str = "day2-renewal-1";

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: dept-ops
---
apiVersion: govchain.io/v1alpha1
kind: Chain
metadata:
  name: ops-ledger
  namespace: dept-ops
spec:
  consensus: raft
  cryptoSuite: gm
  image: govchain/node
  version: 0.1.0
  blockPolicy:
    maxTxs: 5000
    maxWaitMs: 50
  nodeGroups:
    - name: core
      replicas: 4
      role: consensus
"#;

struct Day2 {
    env: Env,
    kube: kube::Client,
    names: Names,
    client: Client,
    wallet: Wallet,
    service_url: String,
}

/// Whether `pod` is Ready and not being deleted.
fn pod_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_image(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default()
}

/// The chain is Ready for its current generation.
fn chain_ready(chain: &Chain) -> bool {
    let generation = chain.metadata.generation;
    chain.status.as_ref().is_some_and(|s| {
        s.observed_generation == generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True" && c.observed_generation == generation)
    })
}

/// What a sampler saw of the chain's pods at one moment.
#[derive(Debug, Clone)]
struct Sample {
    at: Duration,
    ready: usize,
    /// Pod -> image, pods not being deleted.
    images: BTreeMap<String, String>,
}

/// Samples the chain's pods every 200 ms until stopped.
fn sample_pods(kube: kube::Client, stop: Arc<AtomicBool>) -> JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(kube, NS);
        let lp = ListParams::default().labels(&format!("govchain.io/chain={CHAIN}"));
        let start = Instant::now();
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(list) = api.list(&lp).await {
                let ready = list.items.iter().filter(|p| pod_ready(p)).count();
                let images = list
                    .items
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .map(|p| (p.metadata.name.clone().unwrap_or_default(), pod_image(p)))
                    .collect();
                samples.push(Sample { at: start.elapsed(), ready, images });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        samples
    })
}

/// What a background transaction loop saw.
#[derive(Debug, Default)]
struct CommitLog {
    committed: Vec<Duration>,
    failures: Vec<String>,
}

impl CommitLog {
    /// The longest stretch without a commit (from the start to the stop).
    fn longest_gap(&self, end: Duration) -> Duration {
        let mut last = Duration::ZERO;
        let mut gap = Duration::ZERO;
        for t in self.committed.iter().copied().chain([end]) {
            gap = gap.max(t.saturating_sub(last));
            last = t;
        }
        gap
    }
}

/// Submits a transaction every 500 ms through the client Service until stopped.
fn commit_loop(url: String, stop: Arc<AtomicBool>) -> JoinHandle<CommitLog> {
    tokio::spawn(async move {
        let client = Client::new(&url).unwrap();
        let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), CHAIN);
        let start = Instant::now();
        let mut log = CommitLog::default();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let tx = wallet
                .data_call(&DataCall::Put { key: format!("loop-{i}").into(), value: b"v".to_vec() })
                .unwrap();
            match tokio::time::timeout(Duration::from_secs(15), client.submit(&tx, SubmitMode::Sync)).await {
                Ok(Ok(r)) if r.status == "committed" => log.committed.push(start.elapsed()),
                Ok(Ok(r)) => log.failures.push(format!("{:?}: status {}", start.elapsed(), r.status)),
                Ok(Err(e)) => log.failures.push(format!("{:?}: {e}", start.elapsed())),
                Err(_) => log.failures.push(format!("{:?}: no answer within 15 s", start.elapsed())),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        log
    })
}

impl Day2 {
    async fn chain(&self) -> Option<Chain> {
        Api::<Chain>::namespaced(self.kube.clone(), NS).get_opt(CHAIN).await.ok().flatten()
    }

    async fn pods(&self) -> Vec<Pod> {
        let api: Api<Pod> = Api::namespaced(self.kube.clone(), NS);
        let lp = ListParams::default().labels(&format!("govchain.io/chain={CHAIN}"));
        api.list(&lp).await.map(|l| l.items).unwrap_or_default()
    }

    async fn secret(&self, name: &str) -> BTreeMap<String, String> {
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), NS);
        let secret = api.get(name).await.unwrap_or_else(|e| panic!("Secret {name}: {e}"));
        render::secret_text(&secret)
    }

    /// Waits until `pod` is gone.
    async fn wait_pod_gone(&self, pod: &str) {
        self.env
            .wait(&format!("{pod} gone"), NS, Duration::from_secs(120), || async {
                let pods = self.pods().await;
                (!pods.iter().any(|p| p.metadata.name.as_deref() == Some(pod))).then_some(())
            })
            .await;
    }

    /// Waits for `n` members, all ready; returns the consensus id of `node` (0 when absent).
    async fn wait_members(&self, what: &str, n: usize, node: &str) -> u64 {
        self.wait_chain(what, |c| {
            let s = c.status.as_ref()?;
            let ready =
                s.members.len() == n && s.members.iter().all(|m| m.ready) && s.ready == format!("{n}/{n}");
            ready.then(|| s.members.iter().find(|m| m.name == node).map_or(0, |m| m.id))
        })
        .await
    }

    async fn patch(&self, patch: &str) {
        self.env.kubectl(&["patch", "chain", CHAIN, "-n", NS, "--type=json", "-p", patch]).await;
    }

    /// Waits until the chain is Ready for its generation and `check` holds.
    async fn wait_chain<T>(&self, what: &str, check: impl Fn(&Chain) -> Option<T>) -> T {
        let check = &check;
        self.env
            .wait(what, NS, STEP_TIMEOUT, || async move {
                let chain = self.chain().await?;
                if !chain_ready(&chain) {
                    return None;
                }
                check(&chain)
            })
            .await
    }

    /// One transaction through the client Service commits (retried on
    /// errors: a node may be restarting); returns the height of its block.
    async fn commit(&self, what: &str) -> u64 {
        let deadline = Instant::now() + COMMIT_TIMEOUT;
        let mut errors = Vec::new();
        let mut i = 0;
        while Instant::now() < deadline {
            i += 1;
            let tx = self
                .wallet
                .data_call(&DataCall::Put { key: format!("{what}-{i}").into(), value: b"v".to_vec() })
                .unwrap();
            match tokio::time::timeout(Duration::from_secs(15), self.client.submit(&tx, SubmitMode::Sync))
                .await
            {
                // The block that holds it: the Service may send a height
                // query to a follower a block behind.
                Ok(Ok(r)) if r.status == "committed" => match r.receipt {
                    Some(receipt) => return receipt.height,
                    None => errors.push("committed without a receipt".into()),
                },
                Ok(Ok(r)) => errors.push(format!("status {}", r.status)),
                Ok(Err(e)) => errors.push(e.to_string()),
                Err(_) => errors.push("no answer within 15 s".into()),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!(
            "no transaction committed within {COMMIT_TIMEOUT:?} ({what}); errors: {errors:?}\n{}",
            self.env.diagnostics(NS).await
        );
    }

    /// An admin client of the chain's peer listeners (the operator's identity).
    async fn admin(&self) -> Admin {
        self.env.chain_admin(&self.kube, NS, CHAIN).await.expect("the chain's admin client")
    }

    /// The consensus configuration as `pod`'s node knows it.
    async fn consensus(&self, admin: &Admin, pod: &str) -> Result<Vec<ConsensusMember>, String> {
        admin.members(&self.names.p2p(pod)).await.map_err(|e| e.to_string())
    }

    /// The pod of the current leader.
    async fn leader_pod(&self) -> String {
        let chain = self.chain().await.unwrap();
        let leader = chain.status.and_then(|s| s.leader).expect("status.leader");
        pod_of_node(&leader).to_owned()
    }

    /// Every node certificate's serial and public key (pod -> (serial, key)).
    async fn node_certs(&self) -> BTreeMap<String, (String, String)> {
        let data = self.secret(&self.names.keys_secret("core")).await;
        data.iter()
            .filter_map(|(k, pem)| {
                let pod = k.strip_suffix(".cert.pem")?;
                let info = govchain_pki::parse(pem).unwrap_or_else(|e| panic!("{k}: {e}"));
                Some((pod.to_owned(), (info.serial, info.public_key_pem)))
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn day2_scale_roll_renew_stop() {
    let env = Env::start().await;
    let out = env.env.kubectl_with_input(["apply", "-f", "-"], MANIFEST.as_bytes()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kube = env.env.new_client().await.unwrap();
    let names = Names::new(CHAIN, NS, env.env.cluster_domain());
    let wallet = Wallet::new(PrivateKey::generate(Suite::Gm), CHAIN);
    let applied = Instant::now();
    let ip = env
        .wait("the client Service's cluster IP", NS, STEP_TIMEOUT, || async {
            let ip = env.jsonpath(NS, &format!("service/{CHAIN}"), "{.spec.clusterIP}").await;
            (!ip.is_empty()).then_some(ip)
        })
        .await;
    let service_url = format!("http://{ip}:8600");
    let d = Day2 { client: Client::new(&service_url).unwrap(), env, kube, names, wallet, service_url };
    d.wait_chain("the 4-node chain Ready", |c| (c.status.as_ref()?.members.len() == 4).then_some(())).await;
    eprintln!("apply -> Ready: {:.1} s", applied.elapsed().as_secs_f64());
    // Some history, so that a joining node has blocks to catch up on.
    for i in 0..20 {
        d.commit(&format!("initial-{i}")).await;
    }

    // ---- Block policy with kubectl: every node applies it through
    // consensus, no pod is replaced, the status reports it.
    let uids = |pods: &[Pod]| pods.iter().map(|p| p.metadata.uid.clone().unwrap()).collect::<BTreeSet<_>>();
    let before = uids(&d.pods().await);
    let started = Instant::now();
    d.patch(r#"[{"op":"replace","path":"/spec/blockPolicy","value":{"maxTxs":7,"maxWaitMs":5}}]"#).await;
    d.wait_chain("status.blockPolicy after the change", |c| {
        let p = c.status.as_ref()?.block_policy.as_ref()?;
        (p.max_txs == Some(7) && p.max_wait_ms == Some(5)).then_some(())
    })
    .await;
    eprintln!("block policy on every node after {:.1} s", started.elapsed().as_secs_f64());
    let pods = d.pods().await;
    assert_eq!(uids(&pods), before, "no pod was replaced");
    for p in &pods {
        let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap();
        let url = format!("http://{ip}:8600/v1/policy");
        let policy: BlockPolicy = reqwest::get(url).await.unwrap().json().await.unwrap();
        let want = BlockPolicy::from_parts(7, BlockPolicy::MAX_BYTES.default, 5).unwrap();
        assert_eq!(policy, want, "{:?}", p.metadata.name);
    }
    d.commit("after-policy").await;

    // ---- Scale 4 -> 5: the fifth node joins consensus and catches up.
    let pod4 = d.names.pod("core", 4);
    let node4 = d.names.node_id(&pod4);
    let started = Instant::now();
    d.patch(r#"[{"op":"replace","path":"/spec/nodeGroups/0/replicas","value":5}]"#).await;
    let id4 = d
        .wait_chain("5 members, all ready, after scaling to 5", |c| {
            let s = c.status.as_ref()?;
            let ids: BTreeSet<u64> = s.members.iter().map(|m| m.id).collect();
            let ok = s.members.len() == 5
                && ids.len() == 5
                && !ids.contains(&0)
                && s.members.iter().all(|m| m.ready)
                && s.ready == "5/5";
            if !ok {
                return None;
            }
            s.members.iter().find(|m| m.name == node4).map(|m| m.id)
        })
        .await;
    let join_time = started.elapsed();
    eprintln!(
        "scale 4 -> 5: {node4} (id {id4}) in consensus and Ready after {:.1} s",
        join_time.as_secs_f64()
    );
    let admin = d.admin().await;
    let leader = d.leader_pod().await;
    let members = d.consensus(&admin, &leader).await.unwrap();
    assert_eq!(members.len(), 5, "{members:?}");
    let m4 = members.iter().find(|m| m.id == id4).unwrap_or_else(|| panic!("id {id4} not in {members:?}"));
    assert_eq!(m4.role, "voter", "{members:?}");
    let height = d.commit("scaled-up").await;
    let ip4 = d.env.jsonpath(NS, &format!("pod/{pod4}"), "{.status.podIP}").await;
    let client4 = Client::new(&format!("http://{ip4}:8600")).unwrap();
    let h4 = d
        .env
        .wait(&format!("{pod4} at height {height}"), NS, Duration::from_secs(60), || async {
            let s = client4.status().await.ok()?;
            (s.height >= height).then_some(s.height)
        })
        .await;
    eprintln!("{pod4} caught up: height {h4} >= {height}");

    // ---- Scale 5 -> 4: the fifth node leaves consensus before its pod goes.
    let watch_from = d.names.pod("core", 0);
    let stop = Arc::new(AtomicBool::new(false));
    let order = {
        let stop = stop.clone();
        let kube = d.kube.clone();
        let admin = admin.clone();
        let p2p = d.names.p2p(&watch_from);
        let pod4 = pod4.clone();
        tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(kube, NS);
            let (mut removed_at, mut pod_gone_at, mut n) = (None, None, 0u32);
            while !stop.load(Ordering::Relaxed) && (removed_at.is_none() || pod_gone_at.is_none()) {
                n += 1;
                if removed_at.is_none()
                    && let Ok(ms) = admin.members(&p2p).await
                    && !ms.iter().any(|m| m.id == id4)
                {
                    removed_at = Some(n);
                }
                if pod_gone_at.is_none() {
                    match pods.get_opt(&pod4).await {
                        Ok(None) => pod_gone_at = Some(n),
                        Ok(Some(p)) if p.metadata.deletion_timestamp.is_some() => pod_gone_at = Some(n),
                        _ => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (removed_at, pod_gone_at)
        })
    };
    let started = Instant::now();
    d.patch(r#"[{"op":"replace","path":"/spec/nodeGroups/0/replicas","value":4}]"#).await;
    d.wait_chain("4 members after scaling to 4", |c| {
        let s = c.status.as_ref()?;
        (s.members.len() == 4 && s.members.iter().all(|m| m.ready && m.id != id4) && s.ready == "4/4")
            .then_some(())
    })
    .await;
    d.wait_pod_gone(&pod4).await;
    let scale_down = started.elapsed();
    // Retention Delete: the removed node's volume goes with it.
    let claim = format!("data-{pod4}");
    d.env
        .wait(&format!("PVC {claim} deleted (retention Delete)"), NS, Duration::from_secs(60), || async {
            let (ok, out) = d.env.kubectl_try(&["get", "pvc", &claim, "-n", NS]).await;
            (!ok && out.contains("NotFound")).then_some(())
        })
        .await;
    stop.store(true, Ordering::Relaxed);
    let (removed_at, pod_gone_at) = order.await.unwrap();
    eprintln!(
        "scale 5 -> 4: {:.1} s; sample of removal from consensus {removed_at:?}, of the pod's deletion {pod_gone_at:?}",
        scale_down.as_secs_f64()
    );
    let (Some(removed_at), Some(pod_gone_at)) = (removed_at, pod_gone_at) else {
        panic!("the removal was not seen: consensus {removed_at:?}, pod {pod_gone_at:?}");
    };
    assert!(
        removed_at <= pod_gone_at,
        "{pod4}'s pod went (sample {pod_gone_at}) before it left consensus (sample {removed_at})"
    );
    let members = d.consensus(&admin, &watch_from).await.unwrap();
    assert_eq!(members.len(), 4, "{members:?}");
    assert!(members.iter().all(|m| m.id != id4 && m.role == "voter"), "{members:?}");
    d.commit("scaled-down").await;

    // ---- Retention Retain: a removed node's volume stays, and no new node
    // starts on its ledger: the addition waits until the claim is deleted.
    let retain_started = Instant::now();
    d.patch(
        r#"[{"op":"replace","path":"/spec/nodeGroups/0/storage/retention","value":"Retain"},
            {"op":"replace","path":"/spec/nodeGroups/0/replicas","value":5}]"#,
    )
    .await;
    let id5 = d.wait_members("5 members again, with retention Retain", 5, &node4).await;
    assert!(id5 > id4, "consensus ids are never reused: {id5} after {id4}");
    d.patch(r#"[{"op":"replace","path":"/spec/nodeGroups/0/replicas","value":4}]"#).await;
    d.wait_members("4 members, with retention Retain", 4, &node4).await;
    d.wait_pod_gone(&pod4).await;
    let (kept, out) = d.env.kubectl_try(&["get", "pvc", &claim, "-n", NS]).await;
    assert!(kept, "retention Retain: {claim} should stay after the scale-down: {out}");
    d.patch(r#"[{"op":"replace","path":"/spec/nodeGroups/0/replicas","value":5}]"#).await;
    let held = d
        .env
        .wait("the addition held back by the kept volume", NS, STEP_TIMEOUT, || async {
            let c = d.chain().await?;
            let s = c.status.as_ref()?;
            let p = s.conditions.iter().find(|c| c.type_ == "Progressing" && c.status == "True")?;
            (p.message.contains(&claim) && p.message.contains("retention Retain")).then(|| p.message.clone())
        })
        .await;
    eprintln!("held back: {held}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let c = d.chain().await.unwrap();
    let s = c.status.as_ref().unwrap();
    assert_eq!(s.members.len(), 4, "no node was added on the kept volume: {:?}", s.members);
    assert!(!d.pods().await.iter().any(|p| p.metadata.name.as_deref() == Some(&pod4)), "{pod4} started");
    d.env.kubectl(&["delete", "pvc", &claim, "-n", NS, "--wait=true"]).await;
    let id6 = d.wait_members("5 members once the kept volume is deleted", 5, &node4).await;
    assert!(id6 > id5, "a new consensus id on a fresh volume: {id6} after {id5}");
    d.patch(
        r#"[{"op":"replace","path":"/spec/nodeGroups/0/storage/retention","value":"Delete"},
            {"op":"replace","path":"/spec/nodeGroups/0/replicas","value":4}]"#,
    )
    .await;
    d.wait_members("4 members, back to retention Delete", 4, &node4).await;
    d.wait_pod_gone(&pod4).await;
    d.commit("retention").await;
    eprintln!("retention Retain round: {:.1} s", retain_started.elapsed().as_secs_f64());

    // ---- Version roll: one pod at a time, never fewer than 3 ready, commits go on.
    let new_image = format!("govchain/node:{NEW_VERSION}");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_pods(d.kube.clone(), stop.clone());
    let committer = commit_loop(d.service_url.clone(), stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    d.patch(&format!(r#"[{{"op":"replace","path":"/spec/version","value":"{NEW_VERSION}"}}]"#)).await;
    d.wait_chain(&format!("every member on {new_image}"), |c| {
        let s = c.status.as_ref()?;
        (s.members.len() == 4 && s.members.iter().all(|m| m.ready && m.image == new_image)).then_some(())
    })
    .await;
    let roll = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    let commits = committer.await.unwrap();
    let end = samples.last().map_or(Duration::ZERO, |s| s.at);
    let min_ready = samples.iter().map(|s| s.ready).min().unwrap_or(0);
    // The first sample each pod shows the new image in (a pod recreated with it).
    let mut switched: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        for (pod, image) in &s.images {
            if *image == new_image {
                switched.entry(pod.clone()).or_insert(i);
            }
        }
    }
    let mut order: Vec<(usize, String)> = switched.iter().map(|(p, i)| (*i, p.clone())).collect();
    order.sort();
    let pods = d.pods().await;
    eprintln!(
        "version roll to {new_image}: {:.1} s; {} samples, fewest ready pods {min_ready}; pods switched in order {:?}; \
         {} commits, {} failures while rolling, longest gap without a commit {:.1} s",
        roll.as_secs_f64(),
        samples.len(),
        order.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        commits.committed.len(),
        commits.failures.len(),
        commits.longest_gap(end).as_secs_f64()
    );
    for f in commits.failures.iter().take(10) {
        eprintln!("  while rolling: {f}");
    }
    assert!(pods.iter().all(|p| pod_image(p) == new_image && pod_ready(p)), "not every pod rolled");
    assert_eq!(switched.len(), 4, "pods seen with {new_image}: {switched:?}");
    let distinct: BTreeSet<usize> = switched.values().copied().collect();
    assert_eq!(distinct.len(), 4, "several pods switched image at once: {switched:?}");
    assert!(min_ready >= 3, "only {min_ready} pods were ready at one moment of the roll");
    assert!(!commits.committed.is_empty(), "nothing committed while rolling: {:?}", commits.failures);
    assert!(
        commits.longest_gap(end) < Duration::from_secs(30),
        "no commit for {:?} while rolling: {:?}",
        commits.longest_gap(end),
        commits.failures
    );
    d.commit("rolled").await;

    // ---- Forced certificate renewal: new serials, same keys, chain still commits.
    let before = d.node_certs().await;
    let uids_before: BTreeMap<String, String> = d
        .pods()
        .await
        .iter()
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), p.metadata.uid.clone().unwrap_or_default()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_pods(d.kube.clone(), stop.clone());
    let started = Instant::now();
    d.env
        .kubectl(&[
            "annotate",
            "chain",
            CHAIN,
            "-n",
            NS,
            "--overwrite",
            &format!("govchain.io/renew-certificates={RENEWAL}"),
        ])
        .await;
    d.wait_chain(&format!("status.certificates.renewedFor = {RENEWAL}"), |c| {
        let s = c.status.as_ref()?;
        (s.certificates.as_ref()?.renewed_for.as_deref() == Some(RENEWAL) && s.ready == "4/4").then_some(())
    })
    .await;
    let renewal = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    let min_ready = samples.iter().map(|s| s.ready).min().unwrap_or(0);
    let after = d.node_certs().await;
    eprintln!("forced certificate renewal: {:.1} s; fewest ready pods {min_ready}", renewal.as_secs_f64());
    for i in 0..4 {
        let pod = d.names.pod("core", i);
        let (old_serial, old_key) = before.get(&pod).unwrap_or_else(|| panic!("no certificate of {pod}"));
        let (new_serial, new_key) = after.get(&pod).unwrap_or_else(|| panic!("no certificate of {pod}"));
        assert_ne!(old_serial, new_serial, "the certificate of {pod} was not renewed");
        assert_eq!(old_key, new_key, "the key of {pod} changed");
    }
    assert!(min_ready >= 3, "only {min_ready} pods were ready at one moment of the renewal");
    // The nodes read their certificate at start: every pod was recreated.
    for p in d.pods().await {
        let name = p.metadata.name.clone().unwrap_or_default();
        assert_ne!(uids_before.get(&name), p.metadata.uid.as_ref(), "{name} was not restarted");
    }
    let height = d.commit("renewed").await;

    // ---- Stopped: every pod goes, membership stays; started again it goes on.
    let ids: BTreeMap<String, u64> = d
        .chain()
        .await
        .and_then(|c| c.status)
        .map(|s| s.members.iter().map(|m| (m.name.clone(), m.id)).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 4, "{ids:?}");
    let started = Instant::now();
    d.patch(r#"[{"op":"add","path":"/spec/stopped","value":true}]"#).await;
    d.env
        .wait("the stopped chain without pods", NS, STEP_TIMEOUT, || async {
            let chain = d.chain().await?;
            let s = chain.status.as_ref()?;
            let stopped = s.observed_generation == chain.metadata.generation
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "False" && c.reason == "Stopped");
            let members: BTreeMap<String, u64> = s.members.iter().map(|m| (m.name.clone(), m.id)).collect();
            (stopped && members == ids && d.pods().await.is_empty()).then_some(())
        })
        .await;
    let stop_time = started.elapsed();
    let started = Instant::now();
    d.patch(r#"[{"op":"replace","path":"/spec/stopped","value":false}]"#).await;
    d.wait_chain("the chain Ready again after start", |c| {
        let s = c.status.as_ref()?;
        let members: BTreeMap<String, u64> = s.members.iter().map(|m| (m.name.clone(), m.id)).collect();
        (members == ids && s.ready == "4/4").then_some(())
    })
    .await;
    let start_time = started.elapsed();
    let after_start = d.commit("restarted").await;
    assert!(after_start > height, "height {after_start} after the restart, {height} before");
    eprintln!(
        "stopped -> no pods: {:.1} s; started -> Ready: {:.1} s",
        stop_time.as_secs_f64(),
        start_time.as_secs_f64()
    );
    eprintln!(
        "times: scale-up join {:.1} s, scale-down {:.1} s, roll {:.1} s, renewal {:.1} s",
        join_time.as_secs_f64(),
        scale_down.as_secs_f64(),
        roll.as_secs_f64(),
        renewal.as_secs_f64()
    );
}
