//! `run --timeline out.html`: one self-contained HTML page that draws a run, a lane per node.
//!
//! Built from the observation stream as it goes (like the expectations), so a long run costs
//! the states it shows, not its whole trace: on a server lane, its view of each member (UP /
//! SUSPICIOUS / DOWN), its status, and per instance healthy / unhealthy bands until deletion;
//! on a client lane, its subscriber view per service. Faults are shaded over the lanes they
//! name; every observation is a tick whose fields show on hover and click; the messages
//! between nodes (kept by the engine when asked, [`MESSAGES_KEPT`]) are drawn as arrows on
//! demand. A crash ends every state its node held; a restarted node's first membership or
//! status change tells the state it started in. The page has no dependency: its script and
//! style are inline (`page.html`), the data a JSON block.

use crate::engine::{Delivery, DeliveryOutcome, NodeId, Record};
use crate::naming::wire::{Observation, Str};
use crate::naming::Process;
use crate::scenario::world::{trace_line, FaultSpan, World};
use crate::time::{Dur, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Most rows drawn, shared out between the nodes (rows beyond a node's share are counted, not
/// drawn: pick services with `--timeline-service` to see them; the instance counts still show).
const MAX_ROWS: usize = 3000;
/// A server's instance count changes with every registration: changes closer than this to the
/// start of the count's band update it in place, so a 100k-instance run stays a few bands.
const COUNT_COALESCE: Dur = Dur::from_millis(500);
/// Most observation ticks kept; later ones are counted.
const MAX_EVENTS: usize = 40_000;
/// Most messages a timeline draws: pass it to
/// [`Engine::record_deliveries`](crate::engine::Engine::record_deliveries); later ones are
/// counted (about 2 MB of page per 10 000).
pub const MESSAGES_KEPT: usize = 50_000;

/// One state of one row over `[from, to)`.
struct Band {
    node: NodeId,
    row: u32,
    from: Time,
    to: Time,
    state: String,
    detail: String,
}

/// A row: what it shows on which node.
struct Row {
    node: NodeId,
    class: &'static str,
    label: String,
    service: String,
    /// The state in force since `since`, if any.
    open: Option<(Time, String, String)>,
}

/// The timeline of one run, fed every observation in order.
pub struct Timeline {
    name: String,
    names: Vec<String>,
    /// `server` or `client`, per node.
    kinds: Vec<&'static str>,
    /// Only these services' rows and observations (plain or grouped names), if given.
    services: Option<BTreeSet<String>>,
    rows: Vec<Row>,
    row_of: BTreeMap<(NodeId, &'static str, String), u32>,
    /// Rows per node, against its share of [`MAX_ROWS`].
    rows_per_node: Vec<usize>,
    /// Each server's instances and their health, for its count row.
    health: BTreeMap<(NodeId, Str, Str, u16), bool>,
    counts: Vec<(u64, u64)>,
    bands: Vec<Band>,
    /// Each kept observation: where, when, its kind and its trace line.
    events: Vec<(NodeId, Time, &'static str, String)>,
    dropped_rows: u64,
    dropped_events: u64,
    faults: Vec<FaultSpan>,
    /// Crashes (`true`) and restarts of nodes in time order, and how many were applied.
    lifecycle: Vec<(Time, NodeId, bool)>,
    applied: usize,
    /// When each node's process last started.
    started: Vec<Time>,
    /// `(from, to, sent, at, what, outcome)` of each message kept.
    messages: Vec<(NodeId, NodeId, Time, Time, &'static str, String)>,
    dropped_messages: u64,
}

impl Timeline {
    /// `names`: node ids, the first `servers` of them servers; `faults` as the world drew them.
    pub fn new(name: &str, names: &[String], servers: usize, services: &[String], faults: &[FaultSpan]) -> Timeline {
        let kinds = (0..names.len()).map(|i| if i < servers { "server" } else { "client" }).collect();
        Timeline::with_kinds(name, names, kinds, services, faults)
    }

    fn with_kinds(
        name: &str,
        names: &[String],
        kinds: Vec<&'static str>,
        services: &[String],
        faults: &[FaultSpan],
    ) -> Timeline {
        let mut lifecycle = Vec::new();
        for f in faults {
            match f.kind {
                "crash" => {
                    lifecycle.extend(f.nodes.iter().map(|&n| (f.at, n, true)));
                    lifecycle.extend(f.end.iter().flat_map(|&e| f.nodes.iter().map(move |&n| (e, n, false))));
                }
                "restart" => lifecycle.extend(f.nodes.iter().map(|&n| (f.at, n, false))),
                _ => {}
            }
        }
        lifecycle.sort_by_key(|&(t, ..)| t);
        Timeline {
            name: name.to_string(),
            names: names.to_vec(),
            kinds,
            services: (!services.is_empty()).then(|| services.iter().cloned().collect()),
            rows: Vec::new(),
            row_of: BTreeMap::new(),
            rows_per_node: vec![0; names.len()],
            health: BTreeMap::new(),
            counts: vec![(0, 0); names.len()],
            bands: Vec::new(),
            events: Vec::new(),
            dropped_rows: 0,
            dropped_events: 0,
            faults: faults.to_vec(),
            lifecycle,
            applied: 0,
            started: vec![Time::ZERO; names.len()],
            messages: Vec::new(),
            dropped_messages: 0,
        }
    }

    /// Two runs stacked (`diff --timeline`): run A's lanes, then run B's, their node ids
    /// prefixed `A:` / `B:`, and the first diverging observation's time marked.
    pub fn stacked(name: &str, runs: [&World; 2], divergence: Option<Time>) -> String {
        let mut names = Vec::new();
        let mut kinds = Vec::new();
        for (prefix, w) in ["A", "B"].iter().zip(runs) {
            for (i, n) in w.names.iter().enumerate() {
                names.push(format!("{prefix}:{n}"));
                kinds.push(if matches!(w.engine.node(i as NodeId), Process::Server(_)) { "server" } else { "client" });
            }
        }
        let mut faults = Vec::new();
        let mut offset = 0;
        for w in runs {
            faults.extend(
                w.faults.iter().map(|f| FaultSpan { nodes: f.nodes.iter().map(|n| n + offset).collect(), ..f.clone() }),
            );
            offset += w.names.len() as NodeId;
        }
        if let Some(at) = divergence {
            faults.push(FaultSpan { kind: "divergence", at, end: None, nodes: Vec::new() });
        }
        // The runs' observations merged in time order (A's first at equal times), so the
        // crashes of both apply as they happen.
        let mut t = Timeline::with_kinds(name, &names, kinds, &[], &faults);
        let b_offset = runs[0].names.len() as NodeId;
        let (a, b) = (&runs[0].engine.records, &runs[1].engine.records);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if j >= b.len() || (i < a.len() && a[i].at <= b[j].at) {
                t.observe(&a[i]);
                i += 1;
            } else {
                let r = &b[j];
                t.observe(&Record { at: r.at, node: r.node + b_offset, obs: r.obs.clone() });
                j += 1;
            }
        }
        t.messages(&runs[0].engine.deliveries, runs[0].engine.deliveries_dropped, 0);
        t.messages(&runs[1].engine.deliveries, runs[1].engine.deliveries_dropped, b_offset);
        let end = runs[0].duration.max(runs[1].duration);
        t.html(end)
    }

    /// The messages the engine kept ([`MESSAGES_KEPT`]), their nodes shifted by `offset`.
    pub fn messages(&mut self, deliveries: &[Delivery], dropped: u64, offset: NodeId) {
        for d in deliveries {
            let outcome = match d.outcome {
                DeliveryOutcome::Datagram => "datagram".to_string(),
                DeliveryOutcome::Request => "request".to_string(),
                DeliveryOutcome::Answer(a) => format!("answer {a}"),
                DeliveryOutcome::Failed(e) => {
                    format!("failed: {}", serde_json::to_value(e).expect("error serializes").as_str().unwrap_or("?"))
                }
            };
            self.messages.push((d.from + offset, d.to + offset, d.sent, d.at, d.what, outcome));
        }
        self.dropped_messages += dropped;
    }

    /// Applies the crashes and restarts before `t`, and at `t` the restarts (what a process
    /// observes at its restart time comes after it) or, with `inclusive`, everything: a crash
    /// ends every state its node holds.
    fn lifecycle_until(&mut self, t: Time, inclusive: bool) {
        while let Some(&(at, node, crash)) = self.lifecycle.get(self.applied) {
            if at > t || (at == t && crash && !inclusive) {
                return;
            }
            self.applied += 1;
            if !crash {
                self.started[node as usize] = at;
                continue;
            }
            for i in 0..self.rows.len() {
                if self.rows[i].node == node {
                    if let Some((from, state, detail)) = self.rows[i].open.take() {
                        self.bands.push(Band { node, row: i as u32, from, to: at, state, detail });
                    }
                }
            }
            self.health.retain(|k, _| k.0 != node);
            self.counts[node as usize] = (0, 0);
        }
    }

    /// Whether the row exists and holds a state now.
    fn is_open(&self, node: NodeId, class: &'static str, label: &str) -> bool {
        self.row_of.get(&(node, class, label.to_string())).is_some_and(|&i| self.rows[i as usize].open.is_some())
    }

    /// Whether a service (as observations name it, `GROUP@@name`) is shown.
    fn shown(&self, service: &str) -> bool {
        self.services
            .as_ref()
            .is_none_or(|s| s.contains(service) || service.split_once("@@").is_some_and(|(_, plain)| s.contains(plain)))
    }

    pub fn observe(&mut self, r: &Record<Observation>) {
        self.lifecycle_until(r.at, false);
        let (service, shown) = match observed_service(&r.obs) {
            Some(s) => (s, self.shown(s)),
            None => ("", true),
        };
        if !shown {
            return;
        }
        if self.events.len() < MAX_EVENTS {
            self.events.push((r.node, r.at, r.obs.kind(), trace_line(r, &self.names)));
        } else {
            self.dropped_events += 1;
        }
        let (n, at) = (r.node, r.at);
        match &r.obs {
            // A first change (since the process started) also tells the state before it.
            Observation::MemberStateChanged { member, from, to } => {
                let label = format!("member {member}");
                if !self.is_open(n, "member", &label) {
                    self.set(n, "member", label.clone(), "", self.started[n as usize], from, "");
                }
                self.set(n, "member", label, "", at, to, "");
            }
            Observation::ServerStatusChanged { from, to } => {
                if !self.is_open(n, "status", "server status") {
                    self.set(n, "status", "server status".into(), "", self.started[n as usize], from, "");
                }
                self.set(n, "status", "server status".into(), "", at, to, "");
            }
            Observation::InstanceAdded { service: svc, ip, port, healthy } => {
                let state = if *healthy { "healthy" } else { "unhealthy" };
                self.set(n, "instance", format!("{service} {ip}:{port}"), service, at, state, "");
                self.count(n, (svc, ip, *port), Some(*healthy), at);
            }
            Observation::InstanceUnhealthy { service: svc, ip, port, .. } => {
                self.set(n, "instance", format!("{service} {ip}:{port}"), service, at, "unhealthy", "");
                self.count(n, (svc, ip, *port), Some(false), at);
            }
            Observation::InstanceHealthy { service: svc, ip, port } => {
                self.set(n, "instance", format!("{service} {ip}:{port}"), service, at, "healthy", "");
                self.count(n, (svc, ip, *port), Some(true), at);
            }
            Observation::InstanceRemoved { service: svc, ip, port } => {
                self.close(n, "instance", format!("{service} {ip}:{port}"), at);
                self.count(n, (svc, ip, *port), None, at);
            }
            Observation::SubscriberViewChanged { hosts, .. } => {
                let unhealthy = hosts.iter().filter(|h| !h.healthy).count();
                let state = match (hosts.len(), unhealthy) {
                    (0, _) => "empty".to_string(),
                    (1, 0) => "1 host".to_string(),
                    (h, 0) => format!("{h} hosts"),
                    (h, u) => format!("{h} hosts, {u} unhealthy"),
                };
                let mut detail = String::new();
                for h in hosts {
                    let _ = write!(detail, "{}:{} {} ", h.ip, h.port, if h.healthy { "healthy" } else { "unhealthy" });
                }
                self.set(n, "view", format!("view {service}"), service, at, &state, detail.trim_end());
            }
            _ => {}
        }
    }

    /// A server's instance changed (`None`: removed): its count row moves, coalesced.
    fn count(&mut self, node: NodeId, (service, ip, port): (&Str, &Str, u16), healthy: Option<bool>, at: Time) {
        let key = (node, service.clone(), ip.clone(), port);
        let before = match healthy {
            Some(h) => self.health.insert(key, h),
            None => self.health.remove(&key),
        };
        let (total, unhealthy) = &mut self.counts[node as usize];
        match before {
            Some(false) => *unhealthy -= 1,
            Some(true) => {}
            None => *total += 1,
        }
        match healthy {
            Some(false) => *unhealthy += 1,
            Some(true) => {}
            None => *total -= 1,
        }
        let state = match (*total, *unhealthy) {
            (1, 0) => "1 instance".to_string(),
            (t, 0) => format!("{t} instances"),
            (t, u) => format!("{t} instances, {u} unhealthy"),
        };
        let Some(i) = self.row(node, "count", "instances held".into(), "") else { return };
        match &mut self.rows[i as usize].open {
            Some((since, s, _)) if at.0 - since.0 < COUNT_COALESCE.0 => *s = state,
            _ => self.set(node, "count", "instances held".into(), "", at, &state, ""),
        }
    }

    /// The row of `(node, class, label)`, created on first use (`None` past the node's share).
    fn row(&mut self, node: NodeId, class: &'static str, label: String, service: &str) -> Option<u32> {
        if let Some(&i) = self.row_of.get(&(node, class, label.clone())) {
            return Some(i);
        }
        // Member, status and count rows always fit; instance and view rows share the rest.
        let share = (MAX_ROWS / self.names.len().max(1)).max(20);
        if matches!(class, "instance" | "view") && self.rows_per_node[node as usize] >= share {
            self.dropped_rows += 1;
            return None;
        }
        self.rows_per_node[node as usize] += 1;
        let i = self.rows.len() as u32;
        self.rows.push(Row { node, class, label: label.clone(), service: service.to_string(), open: None });
        self.row_of.insert((node, class, label), i);
        Some(i)
    }

    #[allow(clippy::too_many_arguments)]
    fn set(
        &mut self,
        node: NodeId,
        class: &'static str,
        label: String,
        service: &str,
        at: Time,
        state: &str,
        detail: &str,
    ) {
        let Some(i) = self.row(node, class, label, service) else { return };
        let row = &mut self.rows[i as usize];
        if row.open.as_ref().is_some_and(|(_, s, d)| s == state && d == detail) {
            return;
        }
        if let Some((from, state, detail)) = row.open.take().filter(|(from, ..)| *from < at) {
            self.bands.push(Band { node, row: i, from, to: at, state, detail });
        }
        self.rows[i as usize].open = Some((at, state.to_string(), detail.to_string()));
    }

    fn close(&mut self, node: NodeId, class: &'static str, label: String, at: Time) {
        let Some(&i) = self.row_of.get(&(node, class, label)) else { return };
        if let Some((from, state, detail)) = self.rows[i as usize].open.take() {
            self.bands.push(Band { node, row: i, from, to: at, state, detail });
        }
    }

    /// The run ended at `end`: the states still in force end there (once: the page and the
    /// Perfetto file can both be written).
    fn finish(&mut self, end: Time) {
        self.lifecycle_until(end, true);
        for i in 0..self.rows.len() {
            if let Some((from, state, detail)) = self.rows[i].open.take() {
                let node = self.rows[i].node;
                self.bands.push(Band { node, row: i as u32, from, to: end, state, detail });
            }
        }
    }

    /// The same run in the Chrome trace-event format (ui.perfetto.dev, chrome://tracing): a
    /// process per node with a thread per row (its states as slices) and one for its
    /// observations (instant events with their fields), one for the messages it sent and got
    /// (a flow from each send to its delivery), and a `faults` process.
    pub fn perfetto(&mut self, end: Time) -> String {
        self.finish(end);
        let faults = &self.faults;
        let us = |t: Time| t.0 / 1000;
        let q = |s: &str| serde_json::to_string(s).expect("string serializes");
        let mut d = String::with_capacity(1 << 16);
        d += "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[";
        let mut first = true;
        let mut push = |d: &mut String, e: String| {
            if !first {
                d.push(',');
            }
            first = false;
            d.push_str(&e);
        };
        for (i, n) in self.names.iter().enumerate() {
            let kind = self.kinds[i];
            let name = q(&format!("{n} ({kind})"));
            push(
                &mut d,
                format!("{{\"ph\":\"M\",\"pid\":{i},\"name\":\"process_name\",\"args\":{{\"name\":{name}}}}}"),
            );
            push(&mut d, format!("{{\"ph\":\"M\",\"pid\":{i},\"tid\":0,\"name\":\"thread_name\",\"args\":{{\"name\":\"observations\"}}}}"));
        }
        for (k, r) in self.rows.iter().enumerate() {
            let (pid, tid, name) = (r.node, k + 1, q(&r.label));
            push(&mut d, format!("{{\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"name\":\"thread_name\",\"args\":{{\"name\":{name}}}}}"));
        }
        for b in &self.bands {
            let (ts, dur) = (us(b.from), us(b.to) - us(b.from));
            push(
                &mut d,
                format!(
                    "{{\"ph\":\"X\",\"pid\":{},\"tid\":{},\"ts\":{ts},\"dur\":{dur},\"name\":{},\"args\":{{\"detail\":{}}}}}",
                    b.node,
                    b.row + 1,
                    q(&b.state),
                    q(&b.detail)
                ),
            );
        }
        let faults_pid = self.names.len();
        push(
            &mut d,
            format!("{{\"ph\":\"M\",\"pid\":{faults_pid},\"name\":\"process_name\",\"args\":{{\"name\":\"faults\"}}}}"),
        );
        for (i, f) in faults.iter().enumerate() {
            let nodes: Vec<&str> = f.nodes.iter().map(|&n| self.names[n as usize].as_str()).collect();
            let (ts, dur) = (us(f.at), f.end.map_or(0, |e| us(e) - us(f.at)));
            let args = format!("{{\"nodes\":{}}}", serde_json::to_string(&nodes).expect("names serialize"));
            push(
                &mut d,
                format!(
                    "{{\"ph\":\"X\",\"pid\":{faults_pid},\"tid\":{i},\"ts\":{ts},\"dur\":{dur},\"name\":\"{}\",\"args\":{args}}}",
                    f.kind
                ),
            );
        }
        for (node, at, kind, e) in &self.events {
            let ts = us(*at);
            push(&mut d, format!("{{\"ph\":\"i\",\"s\":\"t\",\"pid\":{node},\"tid\":0,\"ts\":{ts},\"name\":\"{kind}\",\"args\":{e}}}"));
        }
        // Messages: a 1 µs slice where each is sent and where it arrives, joined by a flow.
        let tid = self.rows.len() + 1;
        if !self.messages.is_empty() {
            for i in 0..self.names.len() {
                push(&mut d, format!("{{\"ph\":\"M\",\"pid\":{i},\"tid\":{tid},\"name\":\"thread_name\",\"args\":{{\"name\":\"messages\"}}}}"));
            }
        }
        for (id, (from, to, sent, at, what, outcome)) in self.messages.iter().enumerate() {
            let (ts, ta, name, outcome) = (us(*sent), us(*at).max(us(*sent) + 1), q(what), q(outcome));
            let (peer_to, peer_from) = (q(&self.names[*to as usize]), q(&self.names[*from as usize]));
            push(&mut d, format!("{{\"ph\":\"X\",\"cat\":\"message\",\"pid\":{from},\"tid\":{tid},\"ts\":{ts},\"dur\":1,\"name\":{name},\"args\":{{\"to\":{peer_to},\"outcome\":{outcome}}}}}"));
            push(&mut d, format!("{{\"ph\":\"s\",\"cat\":\"message\",\"id\":{id},\"pid\":{from},\"tid\":{tid},\"ts\":{ts},\"name\":{name}}}"));
            push(&mut d, format!("{{\"ph\":\"X\",\"cat\":\"message\",\"pid\":{to},\"tid\":{tid},\"ts\":{ta},\"dur\":1,\"name\":{name},\"args\":{{\"from\":{peer_from},\"outcome\":{outcome}}}}}"));
            push(&mut d, format!("{{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"message\",\"id\":{id},\"pid\":{to},\"tid\":{tid},\"ts\":{ta},\"name\":{name}}}"));
        }
        d += "]}";
        d
    }

    /// The page, with the run ended at `end` and its faults.
    pub fn html(&mut self, end: Time) -> String {
        self.finish(end);
        let faults = &self.faults;
        let ms = |t: Time| t.0 as f64 / 1e6;
        let q = |s: &str| serde_json::to_string(s).expect("string serializes");
        let mut d = String::with_capacity(1 << 16);
        let _ = write!(d, "{{\"name\":{},\"end_ms\":{},\"nodes\":[", q(&self.name), ms(end));
        for (i, n) in self.names.iter().enumerate() {
            let kind = self.kinds[i];
            let _ = write!(d, "{}{{\"id\":{},\"kind\":\"{kind}\"}}", if i > 0 { "," } else { "" }, q(n));
        }
        d += "],\"rows\":[";
        for (i, r) in self.rows.iter().enumerate() {
            let _ = write!(
                d,
                "{}{{\"node\":{},\"class\":\"{}\",\"label\":{},\"service\":{}}}",
                if i > 0 { "," } else { "" },
                r.node,
                r.class,
                q(&r.label),
                q(&r.service)
            );
        }
        d += "],\"bands\":[";
        for (i, b) in self.bands.iter().enumerate() {
            let _ = write!(
                d,
                "{}[{},{},{},{},{},{}]",
                if i > 0 { "," } else { "" },
                b.node,
                b.row,
                ms(b.from),
                ms(b.to),
                q(&b.state),
                q(&b.detail)
            );
        }
        d += "],\"faults\":[";
        for (i, f) in faults.iter().enumerate() {
            let nodes: Vec<String> = f.nodes.iter().map(|n| n.to_string()).collect();
            let end = f.end.map_or("null".to_string(), |e| ms(e).to_string());
            let _ = write!(
                d,
                "{}{{\"index\":{i},\"kind\":\"{}\",\"from_ms\":{},\"to_ms\":{end},\"nodes\":[{}]}}",
                if i > 0 { "," } else { "" },
                f.kind,
                ms(f.at),
                nodes.join(",")
            );
        }
        d += "],\"events\":[";
        for (i, (.., line)) in self.events.iter().enumerate() {
            if i > 0 {
                d.push(',');
            }
            d += line;
        }
        // Messages as [from, to, sent, at, what, outcome], the last two indices into `strings`.
        let mut strings: Vec<&str> = Vec::new();
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        d += "],\"messages\":[";
        for (i, (from, to, sent, at, what, outcome)) in self.messages.iter().enumerate() {
            let mut ids = [0; 2];
            for (k, s) in [*what, outcome.as_str()].into_iter().enumerate() {
                ids[k] = *index.entry(s).or_insert_with(|| {
                    strings.push(s);
                    strings.len() - 1
                });
            }
            let [w, o] = ids;
            let _ = write!(d, "{}[{from},{to},{},{},{w},{o}]", if i > 0 { "," } else { "" }, ms(*sent), ms(*at));
        }
        let strings = serde_json::to_string(&strings).expect("strings serialize");
        let _ = write!(
            d,
            "],\"strings\":{strings},\"dropped_rows\":{},\"dropped_events\":{},\"dropped_messages\":{}}}",
            self.dropped_rows, self.dropped_events, self.dropped_messages
        );
        // JSON inside <script>: "</" must not end the element.
        let data = d.replace("</", "<\\/");
        let (head, tail) = PAGE.split_once("/*DATA*/").expect("the page has a data slot");
        format!("{}{data}{tail}", head.replace("/*TITLE*/", &html_escape(&self.name)))
    }
}

/// The service an observation concerns, if any (for the service filter and the row labels).
fn observed_service(o: &Observation) -> Option<&str> {
    use Observation::*;
    match o {
        ServiceCreated { service }
        | ServiceRemoved { service }
        | InstanceRegistered { service, .. }
        | InstanceAdded { service, .. }
        | InstanceRemoved { service, .. }
        | InstanceUnhealthy { service, .. }
        | InstanceHealthy { service, .. }
        | DeleteRequested { service, .. }
        | BeatForUnknownInstance { service, .. }
        | PushClientAdded { service, .. }
        | PushZombieRemoved { service, .. }
        | PushRoundStarted { service, .. }
        | PushSent { service, .. }
        | PushAcked { service, .. }
        | PushGivenUp { service, .. }
        | SubscriberViewChanged { service, .. }
        | PushReceived { service }
        | Reregister { service, .. }
        | HealthCheckResult { service, .. }
        | Unsubscribed { service }
        | UpdateTaskStopped { service }
        | QueryAnswered { service, .. } => Some(service),
        _ => None,
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const PAGE: &str = include_str!("page.html");
