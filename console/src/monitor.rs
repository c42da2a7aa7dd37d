//! Monitoring dashboards (SPEC OPS-1): a chain's nodes, one node and its
//! host, and the platform itself (super admin only), drawn from the figures
//! the control plane collects (`/api/v1/metrics/...`), over a chosen range
//! (15 minutes to 30 days), refreshed on a chosen interval, and shown full
//! screen on request. The chain page draws a smaller set of the same charts.

use leptos::{either::Either, prelude::*};
use leptos_router::hooks::use_query_map;
use serde_json::Value;

use crate::{
    api::{self, ApiErr},
    app::{ErrorLine, Session, authed, lang, t, to_login, txt},
    i18n::{Key, Lang},
};

/// The ranges a dashboard offers: the label (also the button id's tail)
/// and its length in ms.
pub(crate) const RANGES: [(&str, i64); 6] = [
    ("15m", 15 * MINUTE),
    ("1h", 60 * MINUTE),
    ("6h", 6 * 60 * MINUTE),
    ("24h", 24 * 60 * MINUTE),
    ("7d", 7 * 24 * 60 * MINUTE),
    ("30d", 30 * 24 * 60 * MINUTE),
];
const MINUTE: i64 = 60_000;

/// Auto-refresh choices, seconds (0: off).
const REFRESH: [u32; 4] = [0, 10, 30, 60];

/// How a chart shows its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A plain number.
    Count,
    /// Per second.
    PerSec,
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// Bytes per second (drawn from a byte counter).
    BytesPerSec,
    /// CPU cores in use, shown as a percentage of one core.
    Cores,
}

/// One chart: the metric the API names, its title and unit, and whether
/// the stored figure is a counter the console turns into a rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChartDef {
    pub(crate) metric: &'static str,
    pub(crate) title: Key,
    pub(crate) unit: Unit,
    pub(crate) rate: bool,
}

const fn def(metric: &'static str, title: Key, unit: Unit) -> ChartDef {
    ChartDef { metric, title, unit, rate: false }
}

/// A chain: its nodes side by side.
pub(crate) const CHAIN_CHARTS: [ChartDef; 6] = [
    def("height", Key::Height, Unit::Count),
    def("tps", Key::Tps, Unit::PerSec),
    def("pending", Key::PendingTx, Unit::Count),
    def("block_interval_seconds", Key::BlockInterval, Unit::Seconds),
    def("peers", Key::Peers, Unit::Count),
    def("up", Key::NodeUp, Unit::Count),
];

/// The chain page's own charts.
pub(crate) const CHAIN_PAGE_CHARTS: [ChartDef; 4] =
    [CHAIN_CHARTS[0], CHAIN_CHARTS[1], CHAIN_CHARTS[2], CHAIN_CHARTS[3]];

/// A node and its host.
const NODE_CHARTS: [ChartDef; 9] = [
    def("height", Key::Height, Unit::Count),
    def("pending", Key::PendingTx, Unit::Count),
    def("cpu_cores", Key::CpuUsage, Unit::Cores),
    def("process_resident_memory_bytes", Key::MemoryUsage, Unit::Bytes),
    def("disk_used_bytes", Key::DiskUsed, Unit::Bytes),
    def("disk_free_bytes", Key::DiskFree, Unit::Bytes),
    ChartDef { metric: "network_receive_bytes", title: Key::NetIn, unit: Unit::BytesPerSec, rate: true },
    ChartDef { metric: "network_transmit_bytes", title: Key::NetOut, unit: Unit::BytesPerSec, rate: true },
    def("process_open_fds", Key::OpenFiles, Unit::Count),
];

/// The platform's own services.
const PLATFORM_CHARTS: [ChartDef; 6] = [
    def("http_request_rate", Key::RequestRate, Unit::PerSec),
    def("cpu_cores", Key::CpuUsage, Unit::Cores),
    def("process_resident_memory_bytes", Key::MemoryUsage, Unit::Bytes),
    def("process_open_fds", Key::OpenFiles, Unit::Count),
    def("db_pool_connections", Key::DbConnections, Unit::Count),
    ChartDef { metric: "collector_scrapes", title: Key::Scrapes, unit: Unit::PerSec, rate: true },
];

/// The dimension a dashboard shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dim {
    Chain,
    Node,
    Platform,
}

impl Dim {
    fn code(self) -> &'static str {
        match self {
            Dim::Chain => "chain",
            Dim::Node => "node",
            Dim::Platform => "platform",
        }
    }
    fn charts(self) -> &'static [ChartDef] {
        match self {
            Dim::Chain => &CHAIN_CHARTS,
            Dim::Node => &NODE_CHARTS,
            Dim::Platform => &PLATFORM_CHARTS,
        }
    }
}

/// The monitoring page (`/monitor?view=chain|node|platform&chain=&node=&range=`).
#[component]
pub fn MonitorPage() -> impl IntoView {
    let q = use_query_map();
    authed(Key::Monitoring, false, move |s: Session| {
        let query = |k: &str| q.with_untracked(|q| q.get(k));
        let super_admin = s.platform() && s.may("platform_admin");
        let dim = RwSignal::new(match query("view").as_deref() {
            Some("node") => Dim::Node,
            Some("platform") if super_admin => Dim::Platform,
            _ => Dim::Chain,
        });
        let pick = Picker::new(query("chain"), query("node"));
        let (chain, node) = (pick.chain, pick.node);
        let range =
            RwSignal::new(query("range").and_then(|r| RANGES.iter().position(|(l, _)| *l == r)).unwrap_or(1));
        let refresh = RwSignal::new(30_u32);
        let full = RwSignal::new(false);
        let path = move || -> Option<String> {
            match dim.get() {
                Dim::Chain => chain.get().map(|c| format!("/api/v1/metrics/chains/{c}")),
                Dim::Node => {
                    chain.get().zip(node.get()).map(|(c, n)| format!("/api/v1/metrics/nodes/{c}/{n}"))
                }
                Dim::Platform => Some("/api/v1/metrics/platform".to_owned()),
            }
        };
        let tab = move |d: Dim, label: Key| {
            view! {
                <button type="button" id=format!("dim-{}", d.code()) role="tab"
                    class=move || if dim.get() == d { "tab active" } else { "tab" }
                    aria-selected=move || (dim.get() == d).to_string()
                    on:click=move |_| dim.set(d)>{t(label)}</button>
            }
        };
        let l = lang();
        view! {
            <div id="monitor" class=move || if full.get() { "monitor fullscreen" } else { "monitor" }>
                <section id="monitor-controls" class="controls">
                    <div role="tablist">
                        {tab(Dim::Chain, Key::ChainDimension)}
                        {tab(Dim::Node, Key::NodeDimension)}
                        {super_admin.then(|| tab(Dim::Platform, Key::PlatformDimension))}
                    </div>
                    {move || (dim.get() != Dim::Platform).then(|| pick.chain_select())}
                    {move || (dim.get() == Dim::Node).then(|| pick.node_select())}
                    <span class="ranges">{RANGES.iter().enumerate().map(|(i, (label, _))| view! {
                        <button type="button" id=format!("range-{label}")
                            class=move || if range.get() == i { "range active" } else { "range" }
                            on:click=move |_| range.set(i)>{range_label(l, label)}</button>
                    }).collect_view()}</span>
                    <label>{t(Key::AutoRefresh)}" "
                        <select id="monitor-refresh" on:change=move |ev| refresh.set(event_target_value(&ev).parse().unwrap_or(0))>
                            {REFRESH.iter().map(|s| {
                                let s = *s;
                                let label = if s == 0 { t(Key::Off).to_owned() } else { format!("{s} s") };
                                view! { <option value=s.to_string() selected=move || refresh.get() == s>{label}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    <button type="button" id="monitor-fullscreen" on:click=move |_| full.update(|f| *f = !*f)>
                        {move || t(if full.get() { Key::ExitFullScreen } else { Key::FullScreen })}
                    </button>
                </section>
                {move || {
                    let d = dim.get();
                    match path() {
                        None => Either::Left(view! { <p class="muted" id="no-target">{t(Key::NoChains)}</p> }),
                        Some(p) => Either::Right(view! { <Charts path=p defs=d.charts() range=range refresh=refresh/> }),
                    }
                }}
            </div>
        }
    })
}

/// The chain and node a page looks at: the caller's chains, the chosen
/// one's nodes, and two selects (ids `{prefix}-chain`, `{prefix}-node`).
/// The first chain and its first node are chosen unless the page's query
/// named them.
#[derive(Clone, Copy)]
pub(crate) struct Picker {
    pub(crate) chain: RwSignal<Option<i64>>,
    pub(crate) node: RwSignal<Option<i64>>,
    chains: LocalResource<Result<Value, ApiErr>>,
    detail: LocalResource<Result<Value, ApiErr>>,
    prefix: &'static str,
}

impl Picker {
    /// `chain` and `node`: the page query's values, if any.
    pub(crate) fn new(chain: Option<String>, node: Option<String>) -> Picker {
        Picker::with_prefix("monitor", chain, node)
    }

    pub(crate) fn with_prefix(prefix: &'static str, chain: Option<String>, node: Option<String>) -> Picker {
        let chain = RwSignal::new(chain.and_then(|v| v.parse::<i64>().ok()));
        let node = RwSignal::new(node.and_then(|v| v.parse::<i64>().ok()));
        let chains = LocalResource::new(|| api::get("/api/v1/chains"));
        Effect::new(move |_| {
            if chain.get_untracked().is_none()
                && let Some(Ok(v)) = chains.get()
            {
                chain.set(v.as_array().and_then(|a| a.first()).and_then(|c| c["id"].as_i64()));
            }
        });
        let detail = LocalResource::new(move || {
            let id = chain.get();
            async move {
                match id {
                    Some(id) => api::get_owned(format!("/api/v1/chains/{id}")).await,
                    None => Ok(Value::Null),
                }
            }
        });
        let pick = Picker { chain, node, chains, detail, prefix };
        Effect::new(move |_| {
            let ns = pick.nodes();
            let known = node.get_untracked().is_some_and(|n| ns.iter().any(|x| x["id"].as_i64() == Some(n)));
            if !known && !ns.is_empty() {
                node.set(ns.first().and_then(|n| n["id"].as_i64()));
            }
        });
        pick
    }

    /// The chosen chain's nodes (read reactively).
    pub(crate) fn nodes(&self) -> Vec<Value> {
        self.detail
            .get()
            .and_then(Result::ok)
            .and_then(|c| c["nodes"].as_array().cloned())
            .unwrap_or_default()
    }

    pub(crate) fn chain_select(self) -> impl IntoView {
        let (chain, chains) = (self.chain, self.chains);
        view! {
            <label>{t(Key::Chain)}" "
                <select id=format!("{}-chain", self.prefix) on:change=move |ev| chain.set(event_target_value(&ev).parse().ok())>
                    {move || chains.get().and_then(Result::ok).and_then(|v| v.as_array().cloned()).unwrap_or_default().into_iter().map(|c| {
                        let id = c["id"].as_i64();
                        view! { <option value=txt(&c["id"]) selected=move || chain.get() == id>{txt(&c["name"])}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    }

    pub(crate) fn node_select(self) -> impl IntoView {
        let node = self.node;
        view! {
            <label>{t(Key::Node)}" "
                <select id=format!("{}-node", self.prefix) on:change=move |ev| node.set(event_target_value(&ev).parse().ok())>
                    {move || self.nodes().into_iter().map(|n| {
                        let id = n["id"].as_i64();
                        view! { <option value=txt(&n["id"]) selected=move || node.get() == id>{txt(&n["name"])}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    }
}

/// A range's label in the page's language.
fn range_label(l: Lang, code: &str) -> String {
    let (n, unit) = code.split_at(code.len() - 1);
    match (l, unit) {
        (Lang::Zh, "m") => format!("{n} 分钟"),
        (Lang::Zh, "h") => format!("{n} 小时"),
        (Lang::Zh, _) => format!("{n} 天"),
        (Lang::En, "m") => format!("{n} min"),
        (Lang::En, "h") => format!("{n} h"),
        (Lang::En, _) => format!("{n} d"),
    }
}

/// The charts of `defs` read from `path` (a `/api/v1/metrics/...` path)
/// over the last `RANGES[range]`, read again every `refresh` seconds (0:
/// never) and whenever the range changes.
#[component]
pub(crate) fn Charts(
    path: String,
    defs: &'static [ChartDef],
    range: RwSignal<usize>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let metrics = defs.iter().map(|d| d.metric).collect::<Vec<_>>().join(",");
    let tick = RwSignal::new(0_u32);
    let data = LocalResource::new(move || {
        let _ = tick.get();
        let span = RANGES[range.get().min(RANGES.len() - 1)].1;
        let to = api::now_ms();
        let url = format!("{path}?metric={metrics}&from={}&to={to}", to - span);
        api::get_owned(url)
    });
    let seconds = StoredValue::new(0_u32);
    api::every(1000, move || {
        let every = refresh.get_untracked();
        let s = seconds.get_value() + 1;
        seconds.set_value(s);
        if every > 0 && s.is_multiple_of(every) {
            tick.update(|t| *t += 1);
        }
    });
    let l = lang();
    // The last answer stays drawn while the next is read.
    let shown = RwSignal::new(None::<Result<Value, ApiErr>>);
    Effect::new(move |_| {
        if let Some(r) = data.get() {
            if let Err(e) = &r
                && e.signed_out()
            {
                to_login(e);
            }
            shown.set(Some(r));
        }
    });
    move || match shown.get() {
        None => view! { <p class="muted">{t(Key::Loading)}</p> }.into_any(),
        Some(Err(e)) => view! { <ErrorLine err=e/> }.into_any(),
        Some(Ok(v)) => {
            let (from, to) = (v["from"].as_i64().unwrap_or_default(), v["to"].as_i64().unwrap_or_default());
            let step = v["step_ms"].as_i64().unwrap_or(1).max(1);
            view! {
                <div class="charts" id="charts" data-resolution=txt(&v["resolution"]) data-step=step.to_string()>
                    {defs.iter().map(|d| {
                        let series = series_of(&v, d);
                        chart(l, d, series, from, to, step)
                    }).collect_view()}
                </div>
            }
            .into_any()
        }
    }
}

/// The series of `def.metric` in an answer: a label (the node's name, or
/// none for the platform) and its points, as a rate when `def.rate`.
fn series_of(v: &Value, def: &ChartDef) -> Vec<(String, Vec<(i64, f64)>)> {
    v["series"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|s| s["metric"] == def.metric)
                .map(|s| {
                    let points: Vec<(i64, f64)> = s["points"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| Some((p["ts"].as_i64()?, p["value"].as_f64()?)))
                                .collect()
                        })
                        .unwrap_or_default();
                    (txt(&s["node"]), if def.rate { rate(&points) } else { points })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Per-second rate of a counter's points (a reset counts from zero).
pub(crate) fn rate(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    points
        .windows(2)
        .filter_map(|w| {
            let ((t0, v0), (t1, v1)) = (w[0], w[1]);
            let dt = (t1 - t0) as f64 / 1000.0;
            (dt > 0.0).then(|| (t1, if v1 >= v0 { (v1 - v0) / dt } else { v1 / dt }))
        })
        .collect()
}

/// A value in its unit, short.
pub(crate) fn format_value(unit: Unit, v: f64) -> String {
    fn bytes(v: f64) -> String {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut x = v.abs();
        let mut i = 0;
        while x >= 1024.0 && i < UNITS.len() - 1 {
            x /= 1024.0;
            i += 1;
        }
        let x = x.copysign(v);
        if i == 0 { format!("{x:.0} B") } else { format!("{x:.1} {}", UNITS[i]) }
    }
    fn number(v: f64) -> String {
        if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 100.0 {
            format!("{v:.0}")
        } else if v.abs() >= 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.3}")
        }
    }
    match unit {
        Unit::Count => number(v),
        Unit::PerSec => format!("{}/s", number(v)),
        Unit::Seconds => format!("{} s", number(v)),
        Unit::Bytes => bytes(v),
        Unit::BytesPerSec => format!("{}/s", bytes(v)),
        Unit::Cores => format!("{:.1}%", v * 100.0),
    }
}

/// `HH:MM`, or `MM-DD HH:MM` for ranges over a day (UTC, as the rest of
/// the console).
fn tick_label(ms: i64, span: i64) -> String {
    let full = crate::app::time(&Value::from(ms));
    if span > 24 * 60 * MINUTE {
        full.get(5..).unwrap_or_default().to_owned()
    } else {
        full.get(11..).unwrap_or_default().to_owned()
    }
}

const COLORS: [&str; 8] =
    ["#1f6feb", "#d9480f", "#2b8a3e", "#9c36b5", "#e8590c", "#0b7285", "#c2255c", "#5c940d"];
const W: f64 = 480.0;
const H: f64 = 170.0;
const LEFT: f64 = 74.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;

/// One chart: an SVG line per series over `[from, to]`, the axes' ticks,
/// and a legend with each series' latest value. A gap longer than three
/// steps breaks the line (a node that did not answer).
fn chart(
    l: Lang,
    def: &ChartDef,
    series: Vec<(String, Vec<(i64, f64)>)>,
    from: i64,
    to: i64,
    step: i64,
) -> impl IntoView {
    let values = series.iter().flat_map(|(_, ps)| ps.iter().map(|p| p.1));
    let (mut lo, mut hi) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let empty = !lo.is_finite();
    if empty {
        (lo, hi) = (0.0, 1.0);
    }
    if matches!(def.unit, Unit::Bytes | Unit::BytesPerSec | Unit::Cores | Unit::PerSec) || def.metric == "up"
    {
        lo = lo.min(0.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + if lo.abs() > 1.0 { lo.abs() * 0.1 } else { 1.0 };
    }
    let span = (to - from).max(1);
    let x = move |ts: i64| LEFT + (ts - from) as f64 / span as f64 * (W - LEFT - RIGHT);
    let y = move |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    let last_of = |ps: &[(i64, f64)]| ps.last().map(|p| p.1);
    let latest: Vec<f64> = series.iter().filter_map(|(_, ps)| last_of(ps)).collect();
    let summary = latest.iter().copied().fold(None::<f64>, |m, v| Some(m.map_or(v, |m| m.max(v))));
    let lines = series
        .iter()
        .enumerate()
        .map(|(i, (_, ps))| {
            let mut d = String::new();
            let mut prev: Option<i64> = None;
            for (ts, v) in ps {
                let cmd = if prev.is_some_and(|p| ts - p <= 3 * step) { 'L' } else { 'M' };
                d.push_str(&format!("{cmd}{:.1} {:.1} ", x(*ts), y(*v)));
                prev = Some(*ts);
            }
            view! { <path d=d fill="none" stroke=COLORS[i % COLORS.len()] stroke-width="1.6"/> }
        })
        .collect_view();
    let grid = [hi, (hi + lo) / 2.0, lo]
        .into_iter()
        .map(|v| {
            let yy = y(v);
            view! {
                <line x1=LEFT x2=W - RIGHT y1=yy y2=yy stroke="#e3e8ee"/>
                <text x=LEFT - 4.0 y=yy + 4.0 text-anchor="end" class="tick">{format_value(def.unit, v)}</text>
            }
        })
        .collect_view();
    let xticks = [from, from + span / 2, to]
        .into_iter()
        .enumerate()
        .map(|(i, ts)| {
            let anchor = ["start", "middle", "end"][i];
            view! { <text x=x(ts) y=H - 6.0 text-anchor=anchor class="tick">{tick_label(ts, span)}</text> }
        })
        .collect_view();
    let unit = def.unit;
    let legend = series
        .iter()
        .enumerate()
        .map(|(i, (name, ps))| {
            let last = last_of(ps).map_or_else(|| "—".to_owned(), |v| format_value(unit, v));
            let name = if name.is_empty() { t(def.title).to_owned() } else { name.clone() };
            let key = name.clone();
            view! {
                <li data-series=key data-last=last_of(ps).map(|v| v.to_string()).unwrap_or_default()>
                    // An attribute, not a style: the page's policy refuses inline styles.
                    <svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" fill=COLORS[i % COLORS.len()]/></svg>
                    {name}": "<b>{last}</b>
                </li>
            }
        })
        .collect_view();
    let title = l.t(def.title);
    let points = series.iter().map(|s| s.1.len()).sum::<usize>().to_string();
    let last = summary.map(|v| v.to_string()).unwrap_or_default();
    view! {
        <figure class="chart" data-metric=def.metric data-last=last data-points=points>
            <figcaption>{title}</figcaption>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=title>
                {grid}{xticks}{lines}
            </svg>
            {if empty {
                Either::Left(view! { <p class="muted nodata">{t(Key::NoDataInRange)}</p> })
            } else {
                Either::Right(view! { <ul class="legend">{legend}</ul> })
            }}
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_their_units() {
        assert_eq!(format_value(Unit::Bytes, 512.0), "512 B");
        assert_eq!(format_value(Unit::Bytes, 3.5 * 1024.0 * 1024.0), "3.5 MiB");
        assert_eq!(format_value(Unit::Cores, 0.256), "25.6%");
        assert_eq!(format_value(Unit::PerSec, 12.0), "12/s");
        assert_eq!(format_value(Unit::Count, 7.25), "7.2");
        assert_eq!(format_value(Unit::Seconds, 0.5), "0.500 s");
    }

    #[test]
    fn counters_become_rates_across_a_reset() {
        let r = rate(&[(0, 100.0), (2000, 300.0), (4000, 50.0)]);
        assert_eq!(r, vec![(2000, 100.0), (4000, 25.0)]);
        assert!(rate(&[(0, 1.0)]).is_empty());
    }

    #[test]
    fn range_labels_in_both_languages() {
        assert_eq!(range_label(Lang::Zh, "15m"), "15 分钟");
        assert_eq!(range_label(Lang::En, "30d"), "30 d");
        assert_eq!(tick_label(1_796_301_296_000, 3_600_000), "12:34");
        assert_eq!(tick_label(1_796_301_296_000, 7 * 86_400_000), "12-03 12:34");
    }
}
