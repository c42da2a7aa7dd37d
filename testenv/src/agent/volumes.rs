//! Pod volumes as host directories, bind-mounted into the container's root.
//!
//! configMap, secret, downwardAPI and projected volumes are rendered to files
//! and written the way the kubelet's atomic writer does it (a timestamped
//! directory, a `..data` symlink swapped by rename, one symlink per top-level
//! entry), and re-rendered on every pass of the pod worker, so a change to
//! the ConfigMap or Secret reaches running pods. emptyDir is a directory of
//! the pod; a persistentVolumeClaim is a directory per namespace and claim
//! that outlives pods; hostPath is the host path itself.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, ServiceAccount, Volume,
};
use kube::api::{Api, PostParams};

use super::Ctx;

/// File path (relative) -> (contents, mode).
pub(crate) type Files = BTreeMap<String, (Vec<u8>, u32)>;

/// Where a volume's data is on the host.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A directory used as is.
    Dir(PathBuf),
    /// Files to write (atomically) into the pod's directory for the volume.
    Files(Files),
}

/// Service-account tokens of one pod, by (audience, expiry).
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    cache: HashMap<(String, i64), (String, Instant)>,
}

const DEFAULT_MODE: u32 = 0o644;

fn mode(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok()).unwrap_or(default) & 0o7777
}

/// A relative path that stays inside the volume.
fn safe(path: &str) -> Result<String, String> {
    let p = Path::new(path);
    if path.is_empty()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_)) || c.as_os_str().to_string_lossy().starts_with(".."))
    {
        return Err(format!("invalid volume file path {path:?}"));
    }
    Ok(path.to_string())
}

fn project(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: u32,
    what: &str,
    optional: bool,
    out: &mut Files,
) -> Result<(), String> {
    match items {
        None => {
            for (k, v) in data {
                out.insert(safe(k)?, (v.clone(), default_mode));
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        out.insert(safe(&item.path)?, (v.clone(), mode(item.mode, default_mode)));
                    }
                    None if optional => {}
                    None => return Err(format!("{what}: key {:?} not found", item.key)),
                }
            }
        }
    }
    Ok(())
}

/// Projects a ConfigMap's or Secret's `data` (`None`: the object does not
/// exist) into `out`; `what` names the object in errors.
fn project_object(
    what: &str,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: u32,
    optional: Option<bool>,
    out: &mut Files,
) -> Result<(), String> {
    let optional = optional == Some(true);
    match data {
        Some(data) => project(&data, items, default_mode, what, optional, out),
        None if optional => Ok(()),
        None => Err(format!("{what} not found")),
    }
}

fn configmap_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> =
        cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        data.insert(k.clone(), v.0.clone());
    }
    data
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> =
        s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    for (k, v) in s.string_data.iter().flatten() {
        data.insert(k.clone(), v.clone().into_bytes());
    }
    data
}

fn map_text(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter().flatten().map(|(k, v)| format!("{k}={v:?}\n")).collect()
}

/// A pod field as the downward API renders it (env vars and files).
pub(crate) fn field(pod: &Pod, path: &str) -> Option<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let label_key =
        |prefix: &str| path.strip_prefix(prefix).and_then(|r| r.strip_suffix("']")).map(str::to_string);
    Some(match path {
        "metadata.name" => meta.name.clone()?,
        "metadata.namespace" => meta.namespace.clone()?,
        "metadata.uid" => meta.uid.clone()?,
        "metadata.labels" => map_text(meta.labels.as_ref()).trim_end().to_string(),
        "metadata.annotations" => map_text(meta.annotations.as_ref()).trim_end().to_string(),
        "spec.nodeName" => spec?.node_name.clone()?,
        "spec.serviceAccountName" => spec?.service_account_name.clone().unwrap_or_default(),
        "status.podIP" => status?.pod_ip.clone()?,
        "status.podIPs" => {
            status?.pod_ips.iter().flatten().map(|p| p.ip.clone()).collect::<Vec<_>>().join(",")
        }
        "status.hostIP" | "status.hostIPs" => status?.host_ip.clone()?,
        _ => {
            if let Some(k) = label_key("metadata.labels['") {
                meta.labels.as_ref()?.get(&k)?.clone()
            } else if let Some(k) = label_key("metadata.annotations['") {
                meta.annotations.as_ref()?.get(&k)?.clone()
            } else {
                return None;
            }
        }
    })
}

fn downward(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: u32,
    out: &mut Files,
) -> Result<(), String> {
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            field(pod, &f.field_path)
                .ok_or_else(|| format!("downward API field {:?} is not available", f.field_path))?
        } else if let Some(r) = &item.resource_field_ref {
            super::pod::resource_field(pod, r)
        } else {
            continue;
        };
        out.insert(safe(&item.path)?, (value.into_bytes(), mode(item.mode, default_mode)));
    }
    Ok(())
}

impl Tokens {
    async fn get(
        &mut self,
        ctx: &Ctx,
        pod: &Pod,
        audience: Option<&str>,
        expiration: Option<i64>,
    ) -> Result<String, String> {
        let expiration = expiration.unwrap_or(3600).max(600);
        let key = (audience.unwrap_or_default().to_string(), expiration);
        if let Some((token, at)) = self.cache.get(&key)
            && at.elapsed() < Duration::from_secs(expiration as u64 * 4 / 5)
        {
            return Ok(token.clone());
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let sa = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into());
        let request: TokenRequest = serde_json::from_value(serde_json::json!({
            "spec": {
                "audiences": audience.map(|a| vec![a.to_string()]).unwrap_or_default(),
                "expirationSeconds": expiration,
                "boundObjectRef": {
                    "apiVersion": "v1", "kind": "Pod",
                    "name": pod.metadata.name, "uid": pod.metadata.uid,
                },
            },
        }))
        .map_err(|e| e.to_string())?;
        let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
        let response: TokenRequest = api
            .create_subresource("token", &sa, &PostParams::default(), &request)
            .await
            .map_err(|e| format!("service account token for {ns}/{sa}: {e}"))?;
        let token = response
            .status
            .and_then(|s| s.token)
            .ok_or_else(|| "token request returned no token".to_string())?;
        self.cache.insert(key, (token.clone(), Instant::now()));
        Ok(token)
    }
}

/// What a volume holds now; `Err` says why the pod cannot start yet (the
/// kubelet's `ContainerCreating` message).
pub(crate) async fn render(
    ctx: &Ctx,
    pod: &Pod,
    volume: &Volume,
    pod_dir: &Path,
    tokens: &mut Tokens,
) -> Result<Source, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut files = Files::new();
    if volume.empty_dir.is_some() {
        return Ok(Source::Dir(pod_dir.join("empty").join(&volume.name)));
    }
    if let Some(pvc) = &volume.persistent_volume_claim {
        let claim = ctx
            .claim(ns, &pvc.claim_name)
            .ok_or_else(|| format!("persistentvolumeclaim {:?} not found", pvc.claim_name))?;
        if claim.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim {:?} is being deleted", pvc.claim_name));
        }
        let uid = claim.metadata.uid.as_deref().unwrap_or_default();
        return Ok(Source::Dir(claim_dir(ctx, ns, &pvc.claim_name, uid)));
    }
    if let Some(host) = &volume.host_path {
        return Ok(Source::Dir(PathBuf::from(&host.path)));
    }
    if let Some(cm) = &volume.config_map {
        let data = ctx.configmap(ns, &cm.name).map(|o| configmap_data(&o));
        let default_mode = mode(cm.default_mode, DEFAULT_MODE);
        let what = format!("configmap {:?}", cm.name);
        project_object(&what, data, cm.items.as_ref(), default_mode, cm.optional, &mut files)?;
        return Ok(Source::Files(files));
    }
    if let Some(secret) = &volume.secret {
        let name = secret.secret_name.clone().unwrap_or_default();
        let data = ctx.secret(ns, &name).map(|o| secret_data(&o));
        let default_mode = mode(secret.default_mode, DEFAULT_MODE);
        let what = format!("secret {name:?}");
        project_object(&what, data, secret.items.as_ref(), default_mode, secret.optional, &mut files)?;
        return Ok(Source::Files(files));
    }
    if let Some(d) = &volume.downward_api {
        downward(
            pod,
            d.items.as_deref().unwrap_or_default(),
            mode(d.default_mode, DEFAULT_MODE),
            &mut files,
        )?;
        return Ok(Source::Files(files));
    }
    if let Some(p) = &volume.projected {
        let default_mode = mode(p.default_mode, DEFAULT_MODE);
        for source in p.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                let data = ctx.configmap(ns, &cm.name).map(|o| configmap_data(&o));
                let what = format!("configmap {:?}", cm.name);
                project_object(&what, data, cm.items.as_ref(), default_mode, cm.optional, &mut files)?;
            }
            if let Some(s) = &source.secret {
                let data = ctx.secret(ns, &s.name).map(|o| secret_data(&o));
                let what = format!("secret {:?}", s.name);
                project_object(&what, data, s.items.as_ref(), default_mode, s.optional, &mut files)?;
            }
            if let Some(d) = &source.downward_api {
                downward(pod, d.items.as_deref().unwrap_or_default(), default_mode, &mut files)?;
            }
            if let Some(t) = &source.service_account_token {
                let token = tokens.get(ctx, pod, t.audience.as_deref(), t.expiration_seconds).await?;
                files.insert(safe(&t.path)?, (token.into_bytes(), default_mode));
            }
        }
        return Ok(Source::Files(files));
    }
    Err(format!(
        "volume {:?}: this volume type is not supported by the govchain-testenv node agent",
        volume.name
    ))
}

/// The directory that holds a claim's data: per claim object (uid), so a
/// claim deleted and created again under the same name starts empty, as
/// with a freshly provisioned volume.
pub(crate) fn claim_dir(ctx: &Ctx, namespace: &str, claim: &str, uid: &str) -> PathBuf {
    ctx.shared.dir.join("volumes/claims").join(namespace).join(format!("{claim}-{uid}"))
}

/// Writes `files` into `dir` atomically (the kubelet's scheme), unless they
/// equal what was written last time.
pub(crate) fn sync(
    dir: &Path,
    files: &Files,
    last: &mut Option<Files>,
    generation: &mut u64,
) -> std::io::Result<bool> {
    use std::os::unix::fs::{PermissionsExt, symlink};
    if last.as_ref() == Some(files) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    *generation += 1;
    let data_name = format!("..{}_{}", std::process::id(), generation);
    let data_dir = dir.join(&data_name);
    std::fs::create_dir_all(&data_dir)?;
    for (path, (bytes, m)) in files {
        let target = data_dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*m))?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&data_name, &tmp)?;
    let old_data = std::fs::read_link(dir.join("..data")).ok();
    std::fs::rename(&tmp, dir.join("..data"))?;
    // One symlink per top-level entry, through ..data.
    let top: std::collections::BTreeSet<String> =
        files.keys().filter_map(|p| p.split('/').next().map(str::to_string)).collect();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !top.contains(&name) {
            std::fs::remove_file(entry.path())?;
        }
    }
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), &link)?;
        }
    }
    if let Some(old) = old_data
        && old != Path::new(&data_name)
    {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    *last = Some(files.clone());
    Ok(true)
}
