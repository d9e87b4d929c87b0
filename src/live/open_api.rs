//! The Nacos 1.x Open API as real clients call it (`/nacos/v1/ns/…`): request parameters to
//! the cores' typed requests, typed answers to Nacos's response bodies, pushes to datagrams.
//! Parameters are read as 1.4.1's `InstanceController` and `DistroFilter` read them
//! (`WebUtils.optional` / `required`, `BooleanUtils.toBoolean`, the `groupName@@` prefix).

use super::http::{HttpRequest, Reply};
use crate::engine::HttpError;
use crate::naming::server::push_service::version_at_least;
use crate::naming::wire::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;

const NS: &str = "/nacos/v1/ns";

/// How a request is served.
pub enum Route {
    /// By the server core; its answer is rendered as `render` says.
    Core(Msg, Render),
    /// Here: an endpoint the cores do not model, or a request Nacos refuses before its
    /// controller runs.
    Here(u16, String),
}

/// What rendering an answer needs to know of its request.
#[derive(Clone, Debug)]
pub struct Render {
    /// `dom` is the grouped name for Java clients from 1.0.0, else the plain one (`doSrvIpxt`).
    grouped_dom: bool,
    env: String,
}

/// The request's `User-Agent`, or its `Client-Version` header (`WebUtils.getUserAgent`), as
/// the cores classify agents.
pub fn agent(r: &HttpRequest) -> Agent {
    let ua = if r.user_agent.is_empty() { &r.client_version } else { &r.user_agent };
    if let Some(v) = ua.strip_prefix("Nacos-Java-Client:v") {
        Agent::JavaClient(v.into())
    } else if ua.starts_with("Nacos-Server") {
        Agent::Server
    } else {
        Agent::Other(ua.as_str().into())
    }
}

/// `BooleanUtils.toBoolean`: true, on, yes, y, t in any case.
fn to_boolean(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "true" | "on" | "yes" | "y" | "t")
}

/// Nacos's answer to an `IllegalArgumentException` or a `NumberFormatException` in a controller.
fn illegal(message: &str) -> Route {
    Route::Here(400, format!("caused: {message};"))
}

struct Params<'a>(&'a HttpRequest);

impl Params<'_> {
    fn optional<'b>(&'b self, name: &str, default: &'b str) -> &'b str {
        match self.0.param(name) {
            Some(v) if !v.is_empty() => v,
            _ => default,
        }
    }
    fn required(&self, name: &str) -> Result<&str, Route> {
        match self.0.param(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(illegal(&format!("Param '{name}' is required."))),
        }
    }
    fn int<T: std::str::FromStr>(&self, name: &str, default: &str) -> Result<T, Route> {
        let v = self.optional(name, default);
        v.trim().parse().map_err(|_| illegal(&format!("For input string: \"{v}\"")))
    }
    fn namespace(&self) -> Str {
        self.optional("namespaceId", "public").into()
    }
    /// `serviceName` grouped by `DistroFilter` (`groupName`, default `DEFAULT_GROUP`), then
    /// checked by `NamingUtils.checkServiceNameFormat`.
    fn service(&self) -> Result<ServiceKey, Route> {
        let name = self.required("serviceName")?.trim();
        let grouped = if name.contains("@@") {
            name.to_string()
        } else {
            format!("{}@@{name}", self.optional("groupName", "DEFAULT_GROUP"))
        };
        let parts: Vec<&str> = grouped.split("@@").collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(illegal(&format!(
                "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName' : {grouped}"
            )));
        }
        Ok(ServiceKey { namespace: self.namespace(), name: grouped.into() })
    }
    /// `clusterName`, else `cluster`, else `DEFAULT` (`getBasicIpAddress`).
    fn cluster(&self) -> Str {
        match self.optional("clusterName", "") {
            "" => self.optional("cluster", "DEFAULT").into(),
            c => c.into(),
        }
    }
    fn port(&self) -> Result<u16, Route> {
        self.int("port", "0")
    }
}

/// Metadata as `UtilsAndCommons.parseMetadata` reads it: a JSON object (scalars become
/// strings), or the legacy `k=v,k=v`.
fn metadata(s: &str) -> Result<Metadata, Route> {
    let mut m = BTreeMap::new();
    if s.is_empty() {
        return Ok(Rc::new(m));
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(o)) => {
            for (k, v) in o {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => continue,
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                        return Err(illegal(&format!("metadata value of '{k}' is not a string")))
                    }
                    other => other.to_string(),
                };
                m.insert(k, v);
            }
        }
        _ => {
            for kv in s.split(',') {
                let Some((k, v)) = kv.split_once('=') else {
                    return Err(illegal(&format!("metadata format incorrect:{s}")));
                };
                m.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(Rc::new(m))
}

/// The instance of a register or update (`parseInstance`, `getIpAddress`).
fn instance(p: &Params) -> Result<InstanceData, Route> {
    let enabled = match p.optional("enabled", "") {
        "" => to_boolean(p.optional("enable", "true")),
        e => to_boolean(e),
    };
    let weight: f64 = p.int("weight", "1")?;
    Ok(InstanceData {
        ip: p.required("ip")?.into(),
        port: p.port()?,
        cluster: p.cluster(),
        weight: Weight(weight),
        healthy: to_boolean(p.optional("healthy", "true")),
        enabled,
        ephemeral: to_boolean(p.optional("ephemeral", "true")),
        marked: false,
        metadata: metadata(p.optional("metadata", ""))?,
        instance_id: "".into(),
        last_beat: 0,
    })
}

/// A beat body (`RsInfo`): the fields the server reads.
#[derive(serde::Deserialize)]
struct RsInfo {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    weight: f64,
    #[serde(default, rename = "serviceName")]
    service_name: String,
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    metadata: Option<BTreeMap<String, serde_json::Value>>,
}

/// Routes one request.
pub fn route(r: &HttpRequest) -> Route {
    match route_checked(r) {
        Ok(route) | Err(route) => route,
    }
}

fn route_checked(r: &HttpRequest) -> Result<Route, Route> {
    let p = Params(r);
    let render = |a: &Agent| Render {
        grouped_dom: matches!(a, Agent::JavaClient(v) if version_at_least(v, "1.0.0")),
        env: p.optional("env", "").to_string(),
    };
    let path = r.path.trim_end_matches('/');
    let agent = agent(r);
    let msg = match (r.method.as_str(), path.strip_prefix(NS).unwrap_or(path)) {
        ("POST", "/instance") | ("PUT", "/instance") => {
            let req = Rc::new(RegisterReq { service: p.service()?, instance: instance(&p)?, agent: agent.clone() });
            if r.method == "POST" {
                Msg::Register(req)
            } else {
                Msg::Update(req)
            }
        }
        ("DELETE", "/instance") => Msg::Deregister(Rc::new(DeregisterReq {
            service: p.service()?,
            ip: p.required("ip")?.into(),
            port: p.port()?,
            cluster: p.cluster(),
            ephemeral: to_boolean(p.optional("ephemeral", "true")),
            agent: agent.clone(),
        })),
        ("PUT", "/instance/beat") => {
            let service = p.service()?;
            let beat = match p.optional("beat", "").trim() {
                "" => None,
                text => {
                    let b: RsInfo = serde_json::from_str(text).map_err(|e| illegal(&e.to_string()))?;
                    let meta: BTreeMap<String, String> = b
                        .metadata
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                        .collect();
                    let period = meta.get("preserved.heart.beat.interval").and_then(|v| v.parse().ok()).unwrap_or(5000);
                    let name = if b.service_name.is_empty() { service.name.to_string() } else { b.service_name };
                    Some(Rc::new(BeatInfo {
                        ip: b.ip.into(),
                        port: b.port,
                        weight: Weight(b.weight),
                        service: name.into(),
                        cluster: b.cluster.into(),
                        metadata: Rc::new(meta),
                        period,
                    }))
                }
            };
            let cluster: Str = p.optional("clusterName", "DEFAULT").into();
            let ip: Str = p.optional("ip", "").into();
            Msg::Beat(Rc::new(BeatReq::new(service, cluster, ip, p.port()?, beat, agent.clone())))
        }
        ("GET", "/instance/list") => {
            let udp_port: u16 = p.int("udpPort", "0")?;
            // Java's `new InetSocketAddress("", port)` is the loopback address.
            let client_ip = match p.optional("clientIP", "") {
                "" if udp_port > 0 => "127.0.0.1",
                ip => ip,
            };
            Msg::List(Rc::new(ListReq {
                service: p.service()?,
                clusters: p.optional("clusters", "").into(),
                udp_port,
                client_ip: client_ip.into(),
                healthy_only: p.optional("healthyOnly", "false").eq_ignore_ascii_case("true"),
                agent: agent.clone(),
            }))
        }
        ("PUT", "/service") => Msg::UpdateService(Rc::new(ServiceUpdateReq {
            service: p.service()?,
            protect_threshold: p.required("protectThreshold")?.into(),
            metadata: metadata(p.optional("metadata", ""))?,
            agent: agent.clone(),
        })),
        ("DELETE", "/service") => {
            Msg::DeleteService(Rc::new(ServiceDeleteReq { service: p.service()?, agent: agent.clone() }))
        }
        ("PUT", "/operator/switches") => {
            let req = Rc::new(SwitchReq { entry: p.required("entry")?.into(), value: p.required("value")?.into() });
            // `@RequestParam boolean debug`: Spring reads "true", "on", "yes" and "1" as true.
            match p.optional("debug", "false").to_ascii_lowercase().as_str() {
                "true" | "on" | "yes" | "1" => Msg::UpdateSwitch(req),
                _ => Msg::UpdateSwitchPersistent(req),
            }
        }
        ("GET", "/operator/metrics") => Msg::Metrics(Rc::new(agent.clone())),
        ("POST", "/nacos/v1/auth/login") | ("POST", "/nacos/v1/auth/users/login") => {
            return Ok(Route::Here(200, r#"{"accessToken":"nacos-sim","tokenTtl":18000,"globalAdmin":true}"#.into()))
        }
        (m, _) => return Ok(Route::Here(404, format!("{m} {} is not served by nacos-sim live", r.path))),
    };
    Ok(Route::Core(msg, render(&agent)))
}

/// The HTTP answer to a core's reply; a failed exchange drops the connection (the process is
/// down or unreachable: the client sees the reset, as from a dead Nacos).
pub fn answer(result: Result<Msg, HttpError>, render: &Render) -> Reply {
    let ok = |body: String| Reply::Response { status: 200, body };
    match result {
        Err(_) => Reply::Close,
        Ok(Msg::Ok) => ok("ok".into()),
        Ok(Msg::BeatReply { client_beat_interval, code, light_beat_enabled }) => {
            let mut o = serde_json::Map::new();
            o.insert("clientBeatInterval".into(), client_beat_interval.into());
            o.insert("code".into(), code.into());
            if let Some(l) = light_beat_enabled {
                o.insert("lightBeatEnabled".into(), l.into());
            }
            ok(serde_json::Value::Object(o).to_string())
        }
        Ok(Msg::Service(info)) => ok(service_json(&info, render.grouped_dom, &render.env)),
        Ok(Msg::Updated(list)) => ok(serde_json::json!({ "updated": &*list }).to_string()),
        Ok(Msg::StatusAnswer(status)) => ok(serde_json::json!({ "status": status }).to_string()),
        Ok(Msg::Error { status, message }) => Reply::Response { status, body: message.to_string() },
        Ok(other) => Reply::Response { status: 500, body: format!("unexpected answer {}", other.name()) },
    }
}

/// `NamingUtils.getServiceName`: the name after `@@`.
fn plain(name: &str) -> &str {
    name.split_once("@@").map_or(name, |(_, n)| n)
}

/// The service JSON of `doSrvIpxt` (keys in sorted order: clients read them by name).
pub fn service_json(info: &ServiceInfo, grouped_dom: bool, env: &str) -> String {
    use serde_json::{json, Map, Value};
    // The core marks a service this server does not have with `lastRefTime` 0.
    if info.last_ref_time == 0 && info.checksum.is_empty() && info.hosts.is_empty() {
        return json!({ "name": &*info.name, "clusters": &*info.clusters, "cacheMillis": info.cache_millis, "hosts": [] })
            .to_string();
    }
    let hosts: Vec<Value> = info
        .hosts
        .iter()
        .map(|h| {
            let mut o = Map::new();
            o.insert("ip".into(), json!(&*h.ip));
            o.insert("port".into(), json!(h.port));
            o.insert("valid".into(), json!(h.valid));
            o.insert("healthy".into(), json!(h.healthy));
            o.insert("marked".into(), json!(h.marked));
            o.insert("instanceId".into(), json!(&*h.instance_id));
            o.insert("metadata".into(), json!(&*h.metadata));
            o.insert("enabled".into(), json!(h.enabled));
            o.insert("weight".into(), json!(h.weight.0));
            o.insert("clusterName".into(), json!(&*h.cluster));
            let service = if grouped_dom { &*h.service } else { plain(&h.service) };
            o.insert("serviceName".into(), json!(service));
            o.insert("ephemeral".into(), json!(h.ephemeral));
            Value::Object(o)
        })
        .collect();
    let mut o = Map::new();
    o.insert("hosts".into(), Value::Array(hosts));
    o.insert("dom".into(), json!(if grouped_dom { &*info.name } else { plain(&info.name) }));
    o.insert("name".into(), json!(&*info.name));
    o.insert("cacheMillis".into(), json!(info.cache_millis));
    o.insert("lastRefTime".into(), json!(info.last_ref_time));
    o.insert("checksum".into(), json!(&*info.checksum));
    o.insert("useSpecifiedURL".into(), json!(false));
    o.insert("clusters".into(), json!(&*info.clusters));
    o.insert("env".into(), json!(env));
    o.insert("metadata".into(), json!(&*info.metadata));
    Value::Object(o).to_string()
}

/// The datagram of a push (`PushService.prepareHostsData`, `compressIfNecessary`): the
/// service JSON as a string under `type: "dom"`, gzipped from 1024 bytes.
pub fn push_datagram(p: &PushPacket) -> Vec<u8> {
    let data = service_json(&p.data, true, "");
    let json = serde_json::json!({ "type": "dom", "lastRefTime": p.last_ref_time, "data": data }).to_string();
    if json.len() < 1024 {
        return json.into_bytes();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// An ack datagram's `lastRefTime` (`{"type": "push-ack", "lastRefTime": …}`); Nacos matches
/// any type. `None` for anything unreadable (logged and dropped by Nacos).
pub fn ack_last_ref_time(payload: &str) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    v.get("lastRefTime")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &str, ua: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: path.into(),
            params: super::super::http::decode_params(query),
            user_agent: ua.into(),
            client_version: String::new(),
            peer_ip: "127.0.0.1".into(),
        }
    }

    #[test]
    fn a_python_registration_is_grouped_and_its_literals_read_as_java_reads_them() {
        let r = req(
            "POST",
            "/nacos/v1/ns/instance",
            "ip=127.0.0.1&port=18090&serviceName=pysvc&weight=1.0&enable=True&healthy=True&clusterName=None&ephemeral=True&groupName=DEFAULT_GROUP",
            "Nacos-Python-Client:v0.1.16",
        );
        let Route::Core(Msg::Register(reg), render) = route(&r) else { panic!("a registration") };
        assert_eq!(&*reg.service.name, "DEFAULT_GROUP@@pysvc");
        assert_eq!(&*reg.service.namespace, "public");
        let i = &reg.instance;
        assert_eq!((&*i.ip, i.port, &*i.cluster, i.weight.0), ("127.0.0.1", 18090, "None", 1.0));
        assert!(i.enabled && i.healthy && i.ephemeral);
        assert_eq!(reg.agent, Agent::Other("Nacos-Python-Client:v0.1.16".into()));
        assert!(!render.grouped_dom);
    }

    #[test]
    fn bad_parameters_are_answered_400_as_nacos_does() {
        let missing = req("DELETE", "/nacos/v1/ns/instance", "serviceName=a", "");
        assert!(matches!(route(&missing), Route::Here(400, m) if m == "caused: Param 'ip' is required.;"));
        let bad_port = req("POST", "/nacos/v1/ns/instance", "serviceName=a&ip=1.1.1.1&port=x", "");
        assert!(matches!(route(&bad_port), Route::Here(400, m) if m.contains("For input string: \"x\"")));
        let bad_name = req("GET", "/nacos/v1/ns/instance/list", "serviceName=a@@", "");
        assert!(matches!(route(&bad_name), Route::Here(400, m) if m.contains("groupName@@serviceName")));
        assert!(matches!(route(&req("GET", "/nacos/v1/ns/nothing", "", "")), Route::Here(404, _)));
    }

    #[test]
    fn a_js_beat_body_is_read_and_its_service_kept_grouped() {
        let beat = r#"{"serviceName":"DEFAULT_GROUP@@demo","ip":"127.0.0.1","port":18080,"cluster":"DEFAULT","weight":1,"metadata":{"probe":"x","n":3},"scheduled":true}"#;
        let q = format!("beat={}&namespaceId=public&serviceName=DEFAULT_GROUP%40%40demo", beat.replace('&', "%26"));
        let r = req("PUT", "/nacos/v1/ns/instance/beat", &q, "Nacos-Java-Client:v1.0.0");
        let Route::Core(Msg::Beat(b), render) = route(&r) else { panic!("a beat") };
        let body = b.beat.as_ref().expect("a full beat");
        assert_eq!((&*body.ip, body.port, &*body.cluster), ("127.0.0.1", 18080, "DEFAULT"));
        assert_eq!(body.metadata.get("n").map(String::as_str), Some("3"));
        assert!(render.grouped_dom);
    }

    #[test]
    fn answers_render_as_nacos_bodies() {
        let render = Render { grouped_dom: true, env: String::new() };
        let reply = answer(
            Ok(Msg::BeatReply { client_beat_interval: 5000, code: 10200, light_beat_enabled: Some(true) }),
            &render,
        );
        assert_eq!(
            reply,
            Reply::Response {
                status: 200,
                body: r#"{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}"#.into()
            }
        );
        let not_found =
            answer(Ok(Msg::BeatReply { client_beat_interval: 5000, code: 20404, light_beat_enabled: None }), &render);
        assert!(
            matches!(not_found, Reply::Response { body, .. } if body == r#"{"clientBeatInterval":5000,"code":20404}"#)
        );
        assert_eq!(answer(Err(HttpError::ConnectionRefused), &render), Reply::Close);
        let unknown = ServiceInfo {
            name: "DEFAULT_GROUP@@x".into(),
            clusters: "DEFAULT".into(),
            cache_millis: 10_000,
            last_ref_time: 0,
            checksum: "".into(),
            hosts: Hosts::default(),
            metadata: Rc::default(),
        };
        assert_eq!(
            service_json(&unknown, true, ""),
            r#"{"cacheMillis":10000,"clusters":"DEFAULT","hosts":[],"name":"DEFAULT_GROUP@@x"}"#
        );
    }

    #[test]
    fn a_large_push_is_gzipped_and_an_ack_is_read() {
        let host = HostJson {
            ip: "127.0.0.1".into(),
            port: 1,
            valid: true,
            healthy: true,
            marked: false,
            instance_id: "127.0.0.1#1#DEFAULT#DEFAULT_GROUP@@demo".into(),
            metadata: Rc::default(),
            enabled: true,
            weight: Weight(1.0),
            cluster: "DEFAULT".into(),
            service: "DEFAULT_GROUP@@demo".into(),
            ephemeral: true,
        };
        let packet = |n: usize| PushPacket {
            last_ref_time: 7,
            data: Rc::new(ServiceInfo {
                name: "DEFAULT_GROUP@@demo".into(),
                clusters: "DEFAULT".into(),
                cache_millis: 10_000,
                last_ref_time: 5,
                checksum: "c".into(),
                hosts: vec![host.clone(); n].into(),
                metadata: Rc::new([("team".to_string(), "pay".to_string())].into()),
            }),
            bytes: 0,
            gzipped: false,
            to_ip: "127.0.0.1".into(),
            to_port: 9,
        };
        let small = push_datagram(&packet(1));
        let v: serde_json::Value = serde_json::from_slice(&small).expect("plain JSON");
        assert_eq!((v["type"].as_str(), v["lastRefTime"].as_i64()), (Some("dom"), Some(7)));
        let data: serde_json::Value = serde_json::from_str(v["data"].as_str().expect("data is a string")).unwrap();
        assert_eq!(data["hosts"][0]["port"], 1);
        assert_eq!(data["metadata"]["team"], "pay", "the service's metadata travels with every push");
        let big = push_datagram(&packet(20));
        assert_eq!(&big[..2], &[0x1f, 0x8b]);
        assert_eq!(
            ack_last_ref_time(r#"{"type":"push-ack","lastRefTime":363279623358,"data":""}"#),
            Some(363279623358)
        );
        assert_eq!(ack_last_ref_time("garbage"), None);
    }
}
