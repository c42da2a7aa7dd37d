//! One pod on the node: its worker runs the containers as local processes,
//! keeps volumes and `/etc/hosts` current, probes, restarts, reports status
//! and carries out graceful deletion.
//!
//! A container is `setpriv --pdeathsig KILL -- unshare --mount --uts
//! --propagation private -- sh -c <setup> sh <command> <args>...`, where the
//! setup mounts an overlay of `/` (lower `/`, upper and work dirs on a tmpfs
//! of the container's own) at the container's root, binds `/proc`, `/dev`, `/sys`,
//! the image's executable at `command[0]`, the pod's hosts file and every
//! volume mount, sets the hostname, and ends in `exec chroot <root> ...`: the
//! same pid all the way, so signals and exit codes are the program's own.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus, ResourceFieldSelector,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};

use super::volumes::{self, Source, Tokens};
use super::{Ctx, now};
use crate::proc::{Proc, exit_code, sh_quote};

const TICK: Duration = Duration::from_millis(250);
const PROBE_EVERY: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_GRACE: i64 = 10;

#[derive(Debug)]
enum State {
    Waiting { reason: String, message: String },
    Running,
    Terminated(ContainerStateTerminated),
}

/// One container of the pod.
#[derive(Debug)]
struct Ctr {
    spec: Container,
    init: bool,
    proc: Option<Proc>,
    env: Vec<(String, String)>,
    restart_count: i32,
    started_at: Option<Time>,
    started_instant: Option<Instant>,
    state: State,
    last_state: Option<ContainerStateTerminated>,
    ready: bool,
    fail_streak: i32,
    live_fail: i32,
    last_probe: Option<Instant>,
    last_live: Option<Instant>,
    next_start: Instant,
    backoff: Duration,
    /// Finished for good (init container succeeded, or no restart allowed).
    done: bool,
    image_id: String,
}

impl Ctr {
    fn new(spec: Container, init: bool) -> Ctr {
        Ctr {
            image_id: String::new(),
            spec,
            init,
            proc: None,
            env: Vec::new(),
            restart_count: 0,
            started_at: None,
            started_instant: None,
            state: State::Waiting { reason: "ContainerCreating".into(), message: String::new() },
            last_state: None,
            ready: false,
            fail_streak: 0,
            live_fail: 0,
            last_probe: None,
            last_live: None,
            next_start: Instant::now(),
            backoff: Duration::from_millis(250),
            done: false,
        }
    }
}

#[derive(Debug, Default)]
struct VolState {
    host: Option<PathBuf>,
    last: Option<volumes::Files>,
    generation: u64,
}

struct Worker {
    ctx: Arc<Ctx>,
    ns: String,
    name: String,
    uid: String,
    ip: Option<Ipv4Addr>,
    dir: PathBuf,
    hosts: PathBuf,
    hosts_text: String,
    volumes: BTreeMap<String, VolState>,
    tokens: Tokens,
    ctrs: Vec<Ctr>,
    start_time: Time,
    conditions: BTreeMap<&'static str, (bool, Time)>,
    last_status: Option<serde_json::Value>,
    /// Why containers cannot start yet (a volume source is missing, ...).
    blocked: Option<String>,
    log: PathBuf,
}

/// Runs the pod until it is deleted (then deletes it for good).
pub(crate) async fn run(ctx: Arc<Ctx>, pod: Arc<Pod>) {
    let (Some(ns), Some(name), Some(uid), Some(spec)) = (
        pod.metadata.namespace.clone(),
        pod.metadata.name.clone(),
        pod.metadata.uid.clone(),
        pod.spec.clone(),
    ) else {
        return;
    };
    let dir = ctx.shared.dir.join("pods").join(&uid);
    let log = ctx.shared.pod_log_path(&ns, &name);
    let mut ctrs: Vec<Ctr> =
        spec.init_containers.unwrap_or_default().into_iter().map(|c| Ctr::new(c, true)).collect();
    ctrs.extend(spec.containers.into_iter().map(|c| Ctr::new(c, false)));
    let mut w = Worker {
        hosts: dir.join("hosts"),
        ctx,
        ns,
        name,
        uid,
        ip: None,
        dir,
        hosts_text: String::new(),
        volumes: BTreeMap::new(),
        tokens: Tokens::default(),
        ctrs,
        start_time: now(),
        conditions: BTreeMap::new(),
        last_status: None,
        blocked: None,
        log,
    };
    if let Err(e) = w.prepare_dirs() {
        tracing::warn!(target: "govchain::testenv", pod = %w.name, error = %e, "pod dirs");
        w.blocked = Some(format!("govchain-testenv: {e}"));
    }
    w.run().await;
}

impl Worker {
    fn prepare_dirs(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if let Some(parent) = self.log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(())
    }

    fn current(&self) -> Option<Arc<Pod>> {
        self.ctx.pod(&self.ns, &self.name).filter(|p| p.metadata.uid.as_deref() == Some(self.uid.as_str()))
    }

    async fn run(&mut self) {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(pod) = self.current() else {
                // Gone without a graceful deletion we saw (a forced delete).
                self.kill_all();
                self.cleanup();
                return;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                self.terminate(&pod).await;
                self.cleanup();
                return;
            }
            self.step(&pod).await;
        }
    }

    async fn step(&mut self, pod: &Pod) {
        if self.ip.is_none() {
            let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
            self.ip = if host_network { Some(Ipv4Addr::LOCALHOST) } else { self.ctx.allocate_ip() };
            if self.ip.is_none() {
                self.blocked = Some("govchain-testenv: no pod IP left in the subnet".into());
            }
        }
        let started_any = self.ctrs.iter().any(|c| c.started_at.is_some());
        match self.sync_volumes(pod).await {
            Ok(()) => {
                if self.blocked.as_deref().is_some_and(|b| !b.starts_with("govchain-testenv")) {
                    self.blocked = None;
                }
            }
            // A running pod keeps its last good files, as the kubelet does.
            Err(e) if !started_any => self.blocked = Some(e),
            Err(e) => {
                tracing::debug!(target: "govchain::testenv", pod = %self.name, error = %e, "volume resync")
            }
        }
        self.sync_hosts(pod);
        // The pod IP must be in the status before the first container starts
        // (`status.podIP` field references).
        if self.last_status.is_none() || self.blocked.is_some() {
            self.report().await;
        }
        if self.blocked.is_none() {
            self.run_containers(pod).await;
        }
        self.probe(pod).await;
        self.report().await;
    }

    async fn sync_volumes(&mut self, pod: &Pod) -> Result<(), String> {
        let vols = pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default();
        for vol in &vols {
            let source = volumes::render(&self.ctx, pod, vol, &self.dir, &mut self.tokens).await?;
            let state = self.volumes.entry(vol.name.clone()).or_default();
            match source {
                Source::Dir(dir) => {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| format!("volume {:?}: {}: {e}", vol.name, dir.display()))?;
                    state.host = Some(dir);
                }
                Source::Files(files) => {
                    let dir = self.dir.join("volumes").join(&vol.name);
                    volumes::sync(&dir, &files, &mut state.last, &mut state.generation)
                        .map_err(|e| format!("volume {:?}: {e}", vol.name))?;
                    state.host = Some(dir);
                }
            }
        }
        Ok(())
    }

    fn own_names(&self, pod: &Pod) -> Vec<String> {
        let spec = pod.spec.as_ref();
        let host = hostname(pod);
        let mut names = Vec::new();
        if let Some(sub) = spec.and_then(|s| s.subdomain.as_deref()) {
            names.push(format!("{host}.{sub}.{}.svc.{}", self.ns, self.ctx.shared.cluster_domain));
        }
        names.push(host);
        names
    }

    fn sync_hosts(&mut self, pod: &Pod) {
        let Some(ip) = self.ip else { return };
        let text = {
            let view = self.ctx.dns.read().unwrap_or_else(|e| e.into_inner());
            view.hosts(&self.ns, IpAddr::V4(ip), &self.own_names(pod))
        };
        if text != self.hosts_text {
            match super::dns::write_in_place(&self.hosts, &text) {
                Ok(()) => self.hosts_text = text,
                Err(e) => {
                    tracing::warn!(target: "govchain::testenv", pod = %self.name, error = %e, "hosts file")
                }
            }
        }
    }

    fn restart_policy(pod: &Pod) -> &str {
        pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
    }

    async fn run_containers(&mut self, pod: &Pod) {
        let policy = Self::restart_policy(pod).to_string();
        // Reap exits first.
        for c in &mut self.ctrs {
            let Some(proc) = c.proc.as_ref() else { continue };
            let Some(status) = proc.try_wait() else { continue };
            let code = exit_code(&status);
            let term = ContainerStateTerminated {
                exit_code: code,
                reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                started_at: c.started_at.clone(),
                finished_at: Some(now()),
                container_id: Some(container_id(&self.uid, &c.spec.name, c.restart_count)),
                ..Default::default()
            };
            tracing::debug!(target: "govchain::testenv", pod = %self.name, container = %c.spec.name, code, "container exited");
            forget_pid(&self.ctx, &self.ns, &self.name, &c.spec.name, &self.uid);
            c.proc = None;
            c.ready = false;
            c.fail_streak = 0;
            c.live_fail = 0;
            let ran_long = c.started_instant.is_some_and(|t| t.elapsed() > Duration::from_secs(10));
            if ran_long {
                c.backoff = Duration::from_millis(250);
            }
            let restart = if c.init {
                code != 0 && policy != "Never"
            } else {
                policy == "Always" || (policy == "OnFailure" && code != 0)
            };
            if c.init && code == 0 {
                c.done = true;
                c.state = State::Terminated(term);
            } else if restart {
                c.next_start = Instant::now() + c.backoff;
                c.backoff = (c.backoff * 2).min(MAX_BACKOFF);
                c.last_state = Some(term);
                c.state = State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!("back-off restarting failed container {}", c.spec.name),
                };
            } else {
                c.done = true;
                c.state = State::Terminated(term);
            }
        }
        // Init containers one at a time, then every main container.
        let mut allow_main = true;
        for i in 0..self.ctrs.len() {
            let c = &self.ctrs[i];
            if c.init {
                if c.done {
                    if matches!(&c.state, State::Terminated(t) if t.exit_code != 0) {
                        allow_main = false;
                        break;
                    }
                    continue;
                }
                allow_main = false;
                if c.proc.is_none() && Instant::now() >= c.next_start {
                    self.start(i, pod);
                }
                break;
            }
        }
        if !allow_main {
            return;
        }
        for i in 0..self.ctrs.len() {
            let c = &self.ctrs[i];
            if !c.init && !c.done && c.proc.is_none() && Instant::now() >= c.next_start {
                self.start(i, pod);
            }
        }
    }

    /// The container's environment, in the kubelet's order: service links
    /// for the API server, `envFrom`, then `env` (each value may refer to
    /// the ones before it with `$(VAR)`).
    fn environment(&self, pod: &Pod, c: &Container) -> Result<Vec<(String, String)>, String> {
        let mut env: Vec<(String, String)> = Vec::new();
        let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
            if let Some(e) = env.iter_mut().find(|(n, _)| *n == k) {
                e.1 = v;
            } else {
                env.push((k, v));
            }
        };
        let api_ip = self.ctx.shared.subnet.kubernetes_service_ip();
        for (k, v) in [
            ("KUBERNETES_SERVICE_HOST", api_ip.to_string()),
            ("KUBERNETES_SERVICE_PORT", "443".into()),
            ("KUBERNETES_SERVICE_PORT_HTTPS", "443".into()),
            ("KUBERNETES_PORT", format!("tcp://{api_ip}:443")),
            ("KUBERNETES_PORT_443_TCP", format!("tcp://{api_ip}:443")),
            ("KUBERNETES_PORT_443_TCP_PROTO", "tcp".into()),
            ("KUBERNETES_PORT_443_TCP_PORT", "443".into()),
            ("KUBERNETES_PORT_443_TCP_ADDR", api_ip.to_string()),
        ] {
            set(&mut env, k.into(), v);
        }
        let ns = &self.ns;
        for from in c.env_from.iter().flatten() {
            let prefix = from.prefix.clone().unwrap_or_default();
            if let Some(r) = &from.config_map_ref {
                match self.ctx.configmap(ns, &r.name) {
                    Some(cm) => {
                        for (k, v) in cm.data.iter().flatten() {
                            set(&mut env, format!("{prefix}{k}"), v.clone());
                        }
                    }
                    None if r.optional == Some(true) => {}
                    None => return Err(format!("configmap {:?} not found", r.name)),
                }
            }
            if let Some(r) = &from.secret_ref {
                match self.ctx.secret(ns, &r.name) {
                    Some(s) => {
                        for (k, v) in s.data.iter().flatten() {
                            set(&mut env, format!("{prefix}{k}"), String::from_utf8_lossy(&v.0).into_owned());
                        }
                    }
                    None if r.optional == Some(true) => {}
                    None => return Err(format!("secret {:?} not found", r.name)),
                }
            }
        }
        for var in c.env.iter().flatten() {
            let value = if let Some(from) = &var.value_from {
                if let Some(f) = &from.field_ref {
                    volumes::field(pod, &f.field_path)
                        .ok_or_else(|| format!("env {}: field {:?} not available", var.name, f.field_path))?
                } else if let Some(r) = &from.config_map_key_ref {
                    let v = self
                        .ctx
                        .configmap(ns, &r.name)
                        .and_then(|cm| cm.data.as_ref().and_then(|d| d.get(&r.key).cloned()));
                    match v {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None => return Err(format!("configmap {:?} key {:?} not found", r.name, r.key)),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let v = self.ctx.secret(ns, &r.name).and_then(|s| {
                        s.data
                            .as_ref()
                            .and_then(|d| d.get(&r.key))
                            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    });
                    match v {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None => return Err(format!("secret {:?} key {:?} not found", r.name, r.key)),
                    }
                } else if let Some(r) = &from.resource_field_ref {
                    resource_field(pod, r)
                } else {
                    String::new()
                }
            } else {
                let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                expand(var.value.as_deref().unwrap_or_default(), &vars)
            };
            set(&mut env, var.name.clone(), value);
        }
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.push(("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()));
        }
        if !env.iter().any(|(k, _)| k == "HOSTNAME") {
            env.push(("HOSTNAME".into(), hostname(pod)));
        }
        Ok(env)
    }

    /// The executable standing for the image, and where it goes in the root.
    fn image(&self, c: &Container) -> Result<(Option<PathBuf>, String), (String, String)> {
        let image = c.image.clone().unwrap_or_default();
        let repo = repository(&image);
        let mapped = self.ctx.images.get(repo).or_else(|| {
            let short =
                repo.strip_prefix("docker.io/library/").or_else(|| repo.strip_prefix("docker.io/"))?;
            self.ctx.images.get(short)
        });
        let command0 = c.command.as_ref().and_then(|c| c.first()).cloned();
        match (mapped, command0) {
            (Some(exe), Some(cmd)) => Ok((Some(exe.clone()), cmd)),
            (Some(exe), None) => {
                Ok((Some(exe.clone()), format!("/{}", repo.rsplit('/').next().unwrap_or(repo))))
            }
            (None, Some(cmd)) if cmd.starts_with('/') && Path::new(&cmd).exists() => Ok((None, cmd)),
            _ => Err((
                "ErrImagePull".into(),
                format!(
                    "govchain-testenv: no executable mapped for image {image:?} (AgentConfig::images) and no absolute command on the host"
                ),
            )),
        }
    }

    fn start(&mut self, i: usize, pod: &Pod) {
        let Some(ip) = self.ip else { return };
        let spec = self.ctrs[i].spec.clone();
        let (exe, command0) = match self.image(&spec) {
            Ok(x) => x,
            Err((reason, message)) => {
                self.ctrs[i].state = State::Waiting { reason, message };
                self.ctrs[i].next_start = Instant::now() + Duration::from_secs(2);
                return;
            }
        };
        let env = match self.environment(pod, &spec) {
            Ok(env) => env,
            Err(message) => {
                self.ctrs[i].state = State::Waiting { reason: "CreateContainerConfigError".into(), message };
                self.ctrs[i].next_start = Instant::now() + Duration::from_secs(1);
                return;
            }
        };
        let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut argv = vec![command0.clone()];
        argv.extend(
            spec.command.iter().flatten().skip(1).chain(spec.args.iter().flatten()).map(|a| expand(a, &vars)),
        );
        let restart = self.ctrs[i].restart_count + i32::from(self.ctrs[i].started_at.is_some());
        match self.spawn(pod, &spec, exe.as_deref(), &argv, &env, restart) {
            Ok(proc) => {
                let c = &mut self.ctrs[i];
                if c.started_at.is_some() {
                    c.restart_count += 1;
                }
                tracing::debug!(target: "govchain::testenv", pod = %self.name, container = %spec.name, ip = %ip, pid = ?proc.pid(), "container started");
                if let Some(pid) = proc.pid() {
                    self.ctx.shared.pids.lock().unwrap_or_else(|e| e.into_inner()).insert(
                        (self.ns.clone(), self.name.clone(), spec.name.clone()),
                        (self.uid.clone(), pid),
                    );
                }
                c.proc = Some(proc);
                c.env = env;
                c.started_at = Some(now());
                c.started_instant = Some(Instant::now());
                c.state = State::Running;
                c.ready = false;
                c.last_probe = None;
                c.last_live = None;
                c.image_id =
                    format!("testenv://{}", exe.map(|e| e.display().to_string()).unwrap_or(command0));
            }
            Err(e) => {
                let c = &mut self.ctrs[i];
                c.state = State::Waiting { reason: "RunContainerError".into(), message: e };
                c.next_start = Instant::now() + c.backoff;
                c.backoff = (c.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn spawn(
        &self,
        pod: &Pod,
        spec: &Container,
        exe: Option<&Path>,
        argv: &[String],
        env: &[(String, String)],
        restart: i32,
    ) -> Result<Proc, String> {
        let t = &self.ctx.tools;
        let cdir = self.dir.join("containers").join(&spec.name);
        let (rw, root) = (cdir.join("rw"), cdir.join("root"));
        for d in [&rw, &root] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let (upper, work) = (rw.join("upper"), rw.join("work"));
        let q = |p: &Path| sh_quote(&p.to_string_lossy());
        // A target path as the container resolves it, under the root: the
        // setup runs before the chroot, where an absolute symlink on the way
        // (`/var/run -> /run`) would otherwise lead out to the host.
        let r = |inner: &str| sh_quote(&format!("{}{}", root.display(), in_root(inner).display()));
        let (mount, mkdir, touch) = (q(&t.mount), q(&t.mkdir), q(&t.touch));
        let mut s = String::from("set -e\n");
        // The writable layer is a tmpfs of the container's own mount
        // namespace: fresh at every (re)start, gone with the last process,
        // and a valid overlay upper even where the host's / is an overlay
        // itself (a CI container).
        let _ = writeln!(s, "{mount} -t tmpfs -o mode=0755 tmpfs {}", q(&rw));
        let _ = writeln!(s, "{mkdir} {} {}", q(&upper), q(&work));
        let _ = writeln!(
            s,
            "{mount} -t overlay overlay -o {} {}",
            sh_quote(&format!("lowerdir=/,upperdir={},workdir={}", upper.display(), work.display())),
            q(&root)
        );
        for fs in ["/proc", "/dev", "/sys"] {
            let _ = writeln!(s, "{mount} --rbind {fs} {}", r(fs));
        }
        let file_mount = |s: &mut String, src: &Path, target: &str, dir: bool, ro: bool| {
            let parent = Path::new(target)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into());
            if dir {
                let _ = writeln!(s, "{mkdir} -p {}", r(target));
            } else {
                let _ = writeln!(s, "{mkdir} -p {}", r(&parent));
                let _ = writeln!(s, "[ -e {} ] || {touch} {}", r(target), r(target));
            }
            let _ = writeln!(s, "{mount} --bind {} {}", q(src), r(target));
            if ro {
                let _ = writeln!(s, "{mount} -o remount,bind,ro {}", r(target));
            }
        };
        if let Some(exe) = exe {
            file_mount(&mut s, exe, &argv[0], false, true);
        }
        file_mount(&mut s, &self.hosts, "/etc/hosts", false, false);
        let mut mounts: Vec<_> = spec.volume_mounts.iter().flatten().collect();
        mounts.sort_by_key(|m| m.mount_path.len());
        for m in mounts {
            if !m.mount_path.starts_with('/') || m.mount_path.split('/').any(|c| c == "..") {
                return Err(format!("mountPath {:?} must be absolute without ..", m.mount_path));
            }
            let host = self
                .volumes
                .get(&m.name)
                .and_then(|v| v.host.clone())
                .ok_or_else(|| format!("volume mount {:?}: no such volume", m.name))?;
            let src = match m.sub_path.as_deref().filter(|p| !p.is_empty()) {
                Some(sub) => {
                    if sub.split('/').any(|c| c == "..") {
                        return Err(format!("subPath {sub:?} leaves the volume"));
                    }
                    let p = host.join(sub);
                    if !p.exists() {
                        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    }
                    p
                }
                None => host,
            };
            let is_dir = std::fs::metadata(&src).map(|m| m.is_dir()).unwrap_or(true);
            file_mount(&mut s, &src, &m.mount_path, is_dir, m.read_only == Some(true));
        }
        let _ = writeln!(s, "printf %s {} > /proc/sys/kernel/hostname", sh_quote(&hostname(pod)));
        match spec.working_dir.as_deref().filter(|d| !d.is_empty()) {
            Some(wd) => {
                let _ = writeln!(s, "{mkdir} -p {}", r(wd));
                let _ = writeln!(
                    s,
                    "exec {} {} {} -C {} -- \"$@\"",
                    q(&t.chroot),
                    q(&root),
                    q(&t.env),
                    sh_quote(wd)
                );
            }
            None => {
                let _ = writeln!(s, "exec {} {} \"$@\"", q(&t.chroot), q(&root));
            }
        }

        let mut header = format!(
            "--- govchain-testenv: container {} starting (restart {restart}, pod uid {}) ---\n",
            spec.name, self.uid
        );
        if let Some(parent) = self.log.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .map_err(|e| format!("{}: {e}", self.log.display()))?;
            let _ = f.write_all(header.as_bytes());
            header.clear();
        }
        let mut cmd = Command::new(&t.setpriv);
        cmd.arg("--pdeathsig")
            .arg("KILL")
            .arg("--")
            .arg(&t.unshare)
            .args(["--mount", "--uts", "--propagation", "private", "--"])
            .arg(&t.sh)
            .arg("-c")
            .arg(&s)
            .arg("sh")
            .args(argv)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        Proc::spawn(&format!("{}/{}:{}", self.ns, self.name, spec.name), cmd, &self.log)
            .map_err(|e| e.to_string())
    }

    async fn probe(&mut self, pod: &Pod) {
        let Some(ip) = self.ip else { return };
        let ip = IpAddr::V4(ip);
        let grace = grace_period(pod, None);
        for c in &mut self.ctrs {
            let Some(proc) = c.proc.as_ref() else {
                continue;
            };
            if c.init {
                continue;
            }
            let pid = proc.pid();
            if c.last_probe.is_none_or(|t| t.elapsed() >= PROBE_EVERY) {
                c.last_probe = Some(Instant::now());
                match &c.spec.readiness_probe {
                    None => c.ready = true,
                    Some(p) => {
                        let ok = super::probe::check(p, ip, &c.spec, pid, &c.env, &self.ctx.tools).await;
                        if ok {
                            c.ready = true;
                            c.fail_streak = 0;
                        } else {
                            c.fail_streak += 1;
                            if c.fail_streak >= p.failure_threshold.unwrap_or(3).max(1) {
                                c.ready = false;
                            }
                        }
                    }
                }
            }
            let Some(live) = &c.spec.liveness_probe else { continue };
            let since_start = c.started_instant.map(|t| t.elapsed()).unwrap_or_default();
            let delay = Duration::from_secs(live.initial_delay_seconds.unwrap_or(0).max(0) as u64);
            let period = Duration::from_secs(live.period_seconds.unwrap_or(10).max(1) as u64);
            if since_start < delay || c.last_live.is_some_and(|t| t.elapsed() < period) {
                continue;
            }
            c.last_live = Some(Instant::now());
            if super::probe::check(live, ip, &c.spec, pid, &c.env, &self.ctx.tools).await {
                c.live_fail = 0;
                continue;
            }
            c.live_fail += 1;
            if c.live_fail >= live.failure_threshold.unwrap_or(3).max(1) {
                tracing::debug!(target: "govchain::testenv", pod = %self.name, container = %c.spec.name, "liveness failed; restarting");
                // Stopped here; the next pass reaps it and restarts it by
                // the restart policy.
                proc.stop(grace).await;
                c.live_fail = 0;
            }
        }
    }

    fn condition(&mut self, type_: &'static str, status: bool) -> PodCondition {
        let entry = self.conditions.entry(type_).or_insert_with(|| (status, now()));
        if entry.0 != status {
            *entry = (status, now());
        }
        PodCondition {
            type_: type_.to_string(),
            status: if status { "True" } else { "False" }.to_string(),
            last_transition_time: Some(entry.1.clone()),
            ..Default::default()
        }
    }

    fn status(&mut self) -> PodStatus {
        let mains: Vec<&Ctr> = self.ctrs.iter().filter(|c| !c.init).collect();
        let inits_done = self
            .ctrs
            .iter()
            .filter(|c| c.init)
            .all(|c| c.done && matches!(&c.state, State::Terminated(t) if t.exit_code == 0));
        let init_failed = self
            .ctrs
            .iter()
            .any(|c| c.init && c.done && matches!(&c.state, State::Terminated(t) if t.exit_code != 0));
        let all_done = !mains.is_empty() && mains.iter().all(|c| c.done);
        let any_started = mains.iter().any(|c| c.started_at.is_some());
        let phase = if init_failed {
            "Failed"
        } else if all_done {
            let ok = mains.iter().all(|c| matches!(&c.state, State::Terminated(t) if t.exit_code == 0));
            if ok { "Succeeded" } else { "Failed" }
        } else if any_started {
            "Running"
        } else {
            "Pending"
        };
        let ready = !mains.is_empty() && mains.iter().all(|c| c.proc.is_some() && c.ready);
        let ctr_status = |c: &Ctr, blocked: &Option<String>| -> ContainerStatus {
            let state = match (&c.state, blocked) {
                (State::Waiting { .. }, Some(msg)) if c.started_at.is_none() => ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("ContainerCreating".into()),
                        message: Some(msg.clone()),
                    }),
                    ..Default::default()
                },
                (State::Waiting { reason, message }, _) => ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.clone()),
                        message: (!message.is_empty()).then(|| message.clone()),
                    }),
                    ..Default::default()
                },
                (State::Running, _) => ContainerState {
                    running: Some(ContainerStateRunning { started_at: c.started_at.clone() }),
                    ..Default::default()
                },
                (State::Terminated(t), _) => {
                    ContainerState { terminated: Some(t.clone()), ..Default::default() }
                }
            };
            ContainerStatus {
                name: c.spec.name.clone(),
                image: c.spec.image.clone().unwrap_or_default(),
                image_id: c.image_id.clone(),
                container_id: c
                    .started_at
                    .as_ref()
                    .map(|_| container_id(&self.uid, &c.spec.name, c.restart_count)),
                ready: c.proc.is_some() && c.ready,
                started: Some(c.proc.is_some()),
                restart_count: c.restart_count,
                state: Some(state),
                last_state: c
                    .last_state
                    .clone()
                    .map(|t| ContainerState { terminated: Some(t), ..Default::default() }),
                ..Default::default()
            }
        };
        let blocked = self.blocked.clone();
        let init_statuses: Vec<ContainerStatus> =
            self.ctrs.iter().filter(|c| c.init).map(|c| ctr_status(c, &blocked)).collect();
        let statuses: Vec<ContainerStatus> = mains.iter().map(|c| ctr_status(c, &blocked)).collect();
        let conditions = vec![
            self.condition("PodScheduled", true),
            self.condition("Initialized", inits_done),
            self.condition("ContainersReady", ready),
            self.condition("Ready", ready),
        ];
        let ip = self.ip.map(|ip| ip.to_string());
        PodStatus {
            phase: Some(phase.to_string()),
            conditions: Some(conditions),
            host_ip: Some("127.0.0.1".into()),
            host_ips: Some(vec![HostIP { ip: "127.0.0.1".into() }]),
            pod_ip: ip.clone(),
            pod_ips: ip.map(|ip| vec![PodIP { ip }]),
            start_time: Some(self.start_time.clone()),
            container_statuses: Some(statuses),
            init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
            ..Default::default()
        }
    }

    async fn report(&mut self) {
        let status = self.status();
        let Ok(value) = serde_json::to_value(&status) else {
            return;
        };
        if self.last_status.as_ref() == Some(&value) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let patch = serde_json::json!({"status": value});
        match api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => self.last_status = Some(value),
            Err(e) => {
                tracing::debug!(target: "govchain::testenv", pod = %self.name, error = %e, "pod status")
            }
        }
    }

    fn kill_all(&mut self) {
        for c in &mut self.ctrs {
            if let Some(p) = c.proc.take() {
                p.kill_and_reap();
                forget_pid(&self.ctx, &self.ns, &self.name, &c.spec.name, &self.uid);
            }
        }
    }

    /// Graceful deletion: SIGTERM, up to the grace period (at most 10 s),
    /// SIGKILL, then the kubelet's final delete (grace 0, this uid only).
    async fn terminate(&mut self, pod: &Pod) {
        let grace = grace_period(pod, pod.metadata.deletion_grace_period_seconds);
        let stops = self.ctrs.iter().filter_map(|c| c.proc.as_ref()).map(|p| p.stop(grace));
        let results = futures_util::future::join_all(stops).await;
        let mut results = results.into_iter();
        for c in &mut self.ctrs {
            if c.proc.is_none() {
                continue;
            }
            let code = results.next().flatten().map(|s| exit_code(&s)).unwrap_or(137);
            forget_pid(&self.ctx, &self.ns, &self.name, &c.spec.name, &self.uid);
            c.proc = None;
            c.ready = false;
            c.done = true;
            c.state = State::Terminated(ContainerStateTerminated {
                exit_code: code,
                reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                started_at: c.started_at.clone(),
                finished_at: Some(now()),
                ..Default::default()
            });
        }
        self.report().await;
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match api.delete(&self.name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => {
                tracing::warn!(target: "govchain::testenv", pod = %self.name, error = %e, "final delete")
            }
        }
    }

    fn cleanup(&mut self) {
        // Nothing runs in the pod any more, so its mounts are gone with the
        // namespaces; the overlays' upper dirs can go.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where `path` lands inside a container whose root starts as a copy of the
/// host's `/`: the longest existing prefix resolved with the host's symlinks
/// (the same ones the container has), plus the rest as written.
fn in_root(path: &str) -> PathBuf {
    let path = Path::new(path);
    let mut rest = Vec::new();
    let mut prefix = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(prefix) {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (prefix.parent(), prefix.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                prefix = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn forget_pid(ctx: &Ctx, ns: &str, pod: &str, container: &str, uid: &str) {
    let mut pids = ctx.shared.pids.lock().unwrap_or_else(|e| e.into_inner());
    let key = (ns.to_string(), pod.to_string(), container.to_string());
    if pids.get(&key).is_some_and(|(u, _)| u == uid) {
        pids.remove(&key);
    }
}

fn grace_period(pod: &Pod, deletion: Option<i64>) -> Duration {
    let secs = deletion
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
        .clamp(0, MAX_GRACE);
    Duration::from_secs(secs as u64)
}

fn container_id(uid: &str, name: &str, restart: i32) -> String {
    format!("testenv://{uid}/{name}/{restart}")
}

/// The pod's hostname: `spec.hostname`, or its name (at most 63 chars).
fn hostname(pod: &Pod) -> String {
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    name.chars().take(63).collect()
}

/// `registry/repo:tag@digest` -> `registry/repo`.
fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// The kubelet's `$(VAR)` expansion: a defined variable is replaced, an
/// undefined reference stays as written, `$$` is a literal `$`.
pub(crate) fn expand(s: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(')
            && let Some(end) = r.find(')')
        {
            let name = &r[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A `resourceFieldRef` value: the container's quantity as written, or the
/// node's capacity when the container sets none.
pub(crate) fn resource_field(pod: &Pod, r: &ResourceFieldSelector) -> String {
    let spec = pod.spec.as_ref();
    let container = spec
        .and_then(|s| s.containers.iter().find(|c| r.container_name.as_deref().is_none_or(|n| n == c.name)));
    let (kind, resource) = r.resource.split_once('.').unwrap_or(("limits", &r.resource));
    let value = container.and_then(|c| c.resources.as_ref()).and_then(|res| {
        let map = if kind == "requests" { &res.requests } else { &res.limits };
        map.as_ref().and_then(|m| m.get(resource)).map(|q| q.0.clone())
    });
    value.unwrap_or_else(|| match resource {
        "cpu" => "64".into(),
        "memory" => (256u64 << 30).to_string(),
        _ => "0".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_the_kubelet() {
        let vars: HashMap<&str, &str> = [("POD_IP", "127.9.64.1"), ("A", "x")].into();
        assert_eq!(expand("$(POD_IP):8600", &vars), "127.9.64.1:8600");
        assert_eq!(expand("$(MISSING)/$(A)", &vars), "$(MISSING)/x");
        assert_eq!(expand("$$(A) $$ $", &vars), "$(A) $ $");
        assert_eq!(expand("$(unterminated", &vars), "$(unterminated");
    }

    #[test]
    fn targets_resolve_like_inside_the_container() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let target = format!("{}/link/a/b", dir.path().display());
        let real = std::fs::canonicalize(&real).unwrap();
        assert_eq!(in_root(&target), real.join("a/b"));
        assert_eq!(in_root("/no-such-dir/x"), Path::new("/no-such-dir/x"));
    }

    #[test]
    fn repository_drops_tag_and_digest() {
        assert_eq!(repository("govchain/node:0.1.0"), "govchain/node");
        assert_eq!(repository("localhost:5000/govchain/node"), "localhost:5000/govchain/node");
        assert_eq!(repository("localhost:5000/x:1@sha256:ab"), "localhost:5000/x");
        assert_eq!(repository("busybox"), "busybox");
    }
}
