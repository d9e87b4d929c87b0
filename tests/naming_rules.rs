//! Rule tests: drive the naming cores directly (no engine) or through tiny scenarios, and check
//! exact times and comparisons from the spec.

use nacos_sim::engine::{ExchangeId, Input, Node, Outputs, TimerId, Wish};
use nacos_sim::naming::client::{ClientCmd, ClientConfig, NamingClient};
use nacos_sim::naming::server::{AddressBook, NamingServer, ServerConfig, Switches};
use nacos_sim::naming::wire::*;
use nacos_sim::scenario::{self, expect, world};
use nacos_sim::time::{Dur, Time};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::rc::Rc;

type Out = Outputs<Msg, Timer, Observation>;

fn ms(v: i64) -> Time {
    Time::from_millis(v)
}

fn standalone() -> NamingServer {
    NamingServer::new(ServerConfig {
        id: 0,
        address: "10.0.0.1:8848".into(),
        members: vec![("10.0.0.1:8848".into(), 0)],
        address_book: Rc::new(AddressBook {
            by_ip: BTreeMap::from([(Str::from("10.1.0.2"), 1)]),
            source: vec!["10.0.0.1".into(), "10.1.0.2".into()],
            outside: None,
        }),
        switches: Switches::default(),
        empty_service_clean: None,
        observe_requests: Default::default(),
        work: Default::default(),
    })
}

fn svc() -> ServiceKey {
    ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@demo".into() }
}

fn instance(ip: &str, port: u16) -> InstanceData {
    InstanceData {
        ip: ip.into(),
        port,
        cluster: "DEFAULT".into(),
        weight: Weight(1.0),
        healthy: true,
        enabled: true,
        ephemeral: true,
        marked: false,
        metadata: Rc::default(),
        instance_id: "".into(),
        last_beat: 0,
    }
}

struct Harness {
    s: NamingServer,
    out: Out,
    rng: ChaCha8Rng,
    next: u64,
}

impl Harness {
    /// A started server: `ServerStatusManager` has run once (status UP) at time 0.
    fn new() -> Harness {
        let mut h = Harness { s: standalone(), out: Out::default(), rng: ChaCha8Rng::seed_from_u64(0), next: 1000 };
        h.s.handle(Time::ZERO, Input::Start, &mut h.rng, &mut h.out);
        h.run_immediate(Time::ZERO);
        h
    }
    /// Delivers a request and returns the reply; runs zero-delay timers (notifier, processor).
    fn request(&mut self, at: Time, msg: Msg) -> Msg {
        self.out.clear();
        self.next += 1;
        let id = ExchangeId(self.next);
        self.s.handle(at, Input::Request { from: 1, id, msg }, &mut self.rng, &mut self.out);
        let reply = self
            .out
            .wishes()
            .find_map(|w| match w {
                Wish::Respond { msg, .. } => Some(msg.clone()),
                _ => None,
            })
            .expect("a reply");
        self.run_immediate(at);
        reply
    }
    /// Runs the timers due within the same millisecond (the notifier applying a small datum
    /// takes microseconds), and the ones they set, at `at`.
    fn run_immediate(&mut self, at: Time) {
        let soon = |out: &Out| -> Vec<Timer> {
            timers_set(out).into_iter().filter(|(after, _)| *after < Dur::from_millis(1)).map(|(_, t)| t).collect()
        };
        let mut pending = soon(&self.out);
        while !pending.is_empty() {
            let mut out = Out::default();
            for t in std::mem::take(&mut pending) {
                self.s.handle(at, Input::Timer { id: TimerId(0), timer: t }, &mut self.rng, &mut out);
            }
            pending = soon(&out);
        }
    }
    fn fire(&mut self, at: Time, timer: Timer) -> Vec<Observation> {
        let mut out = Out::default();
        self.s.handle(at, Input::Timer { id: TimerId(0), timer }, &mut self.rng, &mut out);
        out.take_observations()
    }
    fn check(&mut self, at: Time) -> Vec<&'static str> {
        // The service's own task (a timer of a removed service's task would not run).
        let task = self.s.services.get(&svc()).map_or_else(|| Rc::new(svc()), |s| s.check_task.clone());
        let obs = self.fire(at, Timer::Server(ServerTimer::ClientBeatCheck(task)));
        obs.iter().map(|o| o.kind()).collect()
    }
    fn list(&mut self, at: Time) -> Rc<ServiceInfo> {
        match self.request(at, list_req(0)) {
            Msg::Service(info) => info,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The timers `out` asks for, with their delays.
fn timers_set(out: &Out) -> Vec<(Dur, Timer)> {
    out.wishes()
        .filter_map(|w| match w {
            Wish::SetTimer { after, timer, .. } => Some((after, timer.clone())),
            _ => None,
        })
        .collect()
}

/// A 1.4.1 client's `/instance/list` of demo from 10.1.0.2; a `udp_port` makes it a push
/// subscriber.
fn list_req(udp_port: u16) -> Msg {
    Msg::List(Rc::new(ListReq {
        service: svc(),
        clusters: "".into(),
        udp_port,
        client_ip: "10.1.0.2".into(),
        healthy_only: false,
        agent: Agent::JavaClient("1.4.1".into()),
    }))
}

fn register(ip: &str, port: u16) -> Msg {
    Msg::Register(Rc::new(RegisterReq {
        service: svc(),
        instance: instance(ip, port),
        agent: Agent::JavaClient("1.4.1".into()),
    }))
}

fn beat(ip: &str, port: u16, full: bool) -> Msg {
    let body = BeatInfo {
        ip: ip.into(),
        port,
        weight: Weight(1.0),
        service: svc().name,
        cluster: "DEFAULT".into(),
        metadata: Rc::default(),
        period: 5000,
    };
    Msg::Beat(Rc::new(BeatReq::new(
        svc(),
        "DEFAULT".into(),
        ip.into(),
        port,
        full.then(|| Rc::new(body)),
        Agent::JavaClient("1.4.1".into()),
    )))
}

/// R2.14: unhealthy at the first check with `now - lastBeat > 15000`, strict; deleted past 30000.
#[test]
fn expiry_uses_strict_greater_than_on_the_last_beat() {
    let mut h = Harness::new();
    assert_eq!(h.request(ms(0), register("10.1.0.2", 8080)), Msg::Ok);
    h.request(ms(2_003), beat("10.1.0.2", 8080, true));
    assert!(h.check(ms(17_003)).is_empty(), "exactly 15000 ms is not > 15000");
    assert_eq!(h.check(ms(17_004)), vec!["instance_unhealthy"]);
    assert!(h.check(ms(17_005)).is_empty(), "already unhealthy: no second mark");
    assert!(!h.check(ms(32_003)).contains(&"delete_requested"), "exactly 30000 ms is not > 30000");
    assert!(h.check(ms(32_004)).contains(&"delete_requested"));
    assert!(h.check(ms(37_004)).contains(&"delete_requested"), "re-requested every run until gone");
}

/// R2.10: a beat heals an unhealthy instance and refreshes lastBeat, after the reply.
#[test]
fn beat_heals_and_resets_the_timeout() {
    let mut h = Harness::new();
    h.request(ms(0), register("10.1.0.2", 8080));
    assert_eq!(h.check(ms(15_001)), vec!["instance_unhealthy"]);
    let reply = h.request(ms(16_000), beat("10.1.0.2", 8080, false));
    assert_eq!(reply, Msg::BeatReply { client_beat_interval: 5000, code: 10200, light_beat_enabled: Some(true) });
    assert!(h.check(ms(31_000)).is_empty(), "15000 ms after the healing beat: still healthy");
    assert_eq!(h.check(ms(31_001)), vec!["instance_unhealthy"]);
}

/// R4.9: polls of an unchanged service share one host list; a health flip, a new instance, an
/// updated instance (new weight) or a removed one gives a fresh list that shows the change.
#[test]
fn an_unchanged_service_answers_the_same_host_list() {
    let mut h = Harness::new();
    h.request(ms(0), register("10.1.0.2", 8080));
    h.request(ms(0), register("10.1.0.3", 8080));
    let hosts = |info: &ServiceInfo| info.hosts.iter().map(|x| (x.port, x.healthy, x.weight.0)).collect::<Vec<_>>();
    let first = h.list(ms(10));
    let again = h.list(ms(20));
    assert!(first.hosts.same_list(&again.hosts), "nothing changed: the same list");
    assert_eq!((first.last_ref_time, again.last_ref_time), (10, 20), "the envelope is fresh");

    h.request(ms(14_000), beat("10.1.0.3", 8080, false));
    assert_eq!(h.check(ms(15_001)), vec!["instance_unhealthy"]);
    let sick = h.list(ms(15_002));
    assert!(!sick.hosts.same_list(&again.hosts));
    assert_eq!(
        sick.hosts.iter().map(|x| (&*x.ip, x.healthy)).collect::<Vec<_>>(),
        [("10.1.0.3", true), ("10.1.0.2", false)]
    );

    h.request(ms(15_003), beat("10.1.0.2", 8080, false));
    let healed = h.list(ms(15_004));
    assert_eq!(hosts(&healed), [(8080, true, 1.0), (8080, true, 1.0)]);
    assert!(!healed.hosts.same_list(&sick.hosts));

    let mut heavy = instance("10.1.0.2", 8080);
    heavy.weight = Weight(3.0);
    h.request(
        ms(15_005),
        Msg::Register(Rc::new(RegisterReq {
            service: svc(),
            instance: heavy,
            agent: Agent::JavaClient("1.4.1".into()),
        })),
    );
    assert_eq!(h.list(ms(15_006)).hosts.iter().map(|x| x.weight.0).collect::<Vec<_>>(), [3.0, 1.0]);

    h.request(ms(15_007), register("10.1.0.4", 8080));
    let three = h.list(ms(15_008));
    assert_eq!(three.hosts.iter().map(|x| &*x.ip).collect::<Vec<_>>(), ["10.1.0.2", "10.1.0.3", "10.1.0.4"]);

    let gone = Msg::Deregister(Rc::new(DeregisterReq {
        service: svc(),
        ip: "10.1.0.3".into(),
        port: 8080,
        cluster: "DEFAULT".into(),
        ephemeral: true,
        agent: Agent::JavaClient("1.4.1".into()),
    }));
    h.request(ms(15_009), gone);
    let two = h.list(ms(15_010));
    assert_eq!(two.hosts.iter().map(|x| &*x.ip).collect::<Vec<_>>(), ["10.1.0.2", "10.1.0.4"]);
    assert!(h.list(ms(15_011)).hosts.same_list(&two.hosts), "unchanged again: the same list");
}

/// R2.8.4: a light beat for a missing instance gets 20404 without lightBeatEnabled; a full beat
/// re-creates the instance with lastBeat = now.
#[test]
fn light_beat_to_missing_instance_is_20404_full_beat_recreates() {
    let mut h = Harness::new();
    let reply = h.request(ms(1000), beat("10.1.0.2", 8080, false));
    assert_eq!(reply, Msg::BeatReply { client_beat_interval: 5000, code: 20404, light_beat_enabled: None });
    assert!(h.s.services.is_empty());
    let reply = h.request(ms(2000), beat("10.1.0.2", 8080, true));
    assert_eq!(reply, Msg::BeatReply { client_beat_interval: 5000, code: 10200, light_beat_enabled: Some(true) });
    let info = h.list(ms(2001));
    assert_eq!(info.hosts.len(), 1);
    assert!(h.check(ms(17_000)).is_empty());
    assert_eq!(h.check(ms(17_001)), vec!["instance_unhealthy"]);
}

/// R1.32: with protect threshold 0, an all-unhealthy service is served all-healthy; one healthy
/// instance turns protection off.
#[test]
fn protect_threshold_zero_serves_all_unhealthy_as_healthy() {
    let mut h = Harness::new();
    h.request(ms(0), register("10.1.0.2", 8080));
    h.request(ms(0), register("10.1.0.3", 8080));
    h.check(ms(15_001));
    let info = h.list(ms(15_002));
    assert_eq!(info.hosts.iter().map(|x| (x.healthy, x.valid)).collect::<Vec<_>>(), vec![(true, true); 2]);
    h.request(ms(16_000), beat("10.1.0.2", 8080, false));
    let info = h.list(ms(16_001));
    let seen: Vec<(&str, bool)> = info.hosts.iter().map(|x| (&*x.ip, x.healthy)).collect();
    assert_eq!(seen, vec![("10.1.0.2", true), ("10.1.0.3", false)], "healthy group first");
}

/// R1.20/R1.24: the datum is updated at once, the Service by the notifier afterwards.
#[test]
fn service_lags_the_datum_until_the_notifier_runs() {
    let mut h = Harness::new();
    h.out.clear();
    h.s.handle(
        ms(0),
        Input::Request { from: 1, id: ExchangeId(1), msg: register("10.1.0.2", 1) },
        &mut h.rng,
        &mut h.out,
    );
    let datum_len = h.s.store.data.values().next().map(|d| d.instances.len());
    assert_eq!(datum_len, Some(1));
    assert_eq!(h.s.services[&svc()].all_ips(true).count(), 0, "notifier not run yet");
    h.run_immediate(ms(0));
    assert_eq!(h.s.services[&svc()].all_ips(true).count(), 1);
}

fn client() -> NamingClient {
    NamingClient::new(ClientConfig {
        id: 1,
        ip: "10.1.0.2".into(),
        reported_ip: None,
        udp_port: 54321,
        servers: vec![(0, "s1".into())],
        version: "1.4.1".into(),
        namespace: "public".into(),
        push_empty_protection: false,
        log: false,
    })
}

/// The answer for `DEFAULT_GROUP@@demo` with no hosts.
fn empty_demo() -> ServiceInfo {
    ServiceInfo {
        name: "DEFAULT_GROUP@@demo".into(),
        clusters: "".into(),
        cache_millis: 10_000,
        last_ref_time: 0,
        checksum: "".into(),
        hosts: Hosts::default(),
        metadata: Default::default(),
    }
}

/// Subscribes `c` to `DEFAULT_GROUP@@demo` at 0 and answers its first pull (`updateServiceNow`)
/// with no hosts at 1 ms: only then is the `UpdateTask` scheduled (R4.2).
fn subscribe_demo(c: &mut NamingClient, rng: &mut ChaCha8Rng, out: &mut Out) {
    let sub = ClientCmd::Subscribe { service: "demo".into(), group: "DEFAULT_GROUP".into(), clusters: "".into() };
    out.clear();
    c.handle(ms(0), Input::Command(Box::new(sub)), rng, out);
    let pull = out.wishes().find_map(|w| match w {
        Wish::Request { id, .. } => Some(id),
        _ => None,
    });
    assert!(!out.wishes().any(|w| matches!(w, Wish::SetTimer { .. })), "no UpdateTask before the pull returns");
    out.clear();
    let result = Ok(Msg::Service(Rc::new(empty_demo())));
    c.handle(ms(1), Input::Response { id: pull.expect("the first pull"), result }, rng, out);
    let after: Vec<i64> = out
        .wishes()
        .filter_map(|w| match w {
            Wish::SetTimer { after, .. } => Some(after.as_millis()),
            _ => None,
        })
        .collect();
    assert_eq!(after, [1000], "the UpdateTask, 1 s after the pull returned");
}

/// Runs the `UpdateTask` of `DEFAULT_GROUP@@demo` and returns the id of the poll it sends.
fn poll(c: &mut NamingClient, now: Time, rng: &mut ChaCha8Rng, out: &mut Out) -> ExchangeId {
    out.clear();
    let timer = Timer::Client(ClientTimer::Update("DEFAULT_GROUP@@demo".into()));
    c.handle(now, Input::Timer { id: TimerId(0), timer }, rng, out);
    out.wishes()
        .find_map(|w| match w {
            Wish::Request { id, .. } => Some(id),
            _ => None,
        })
        .expect("a poll")
}

/// R4.5/R4.6: an empty service is polled with back-off 2, 4, 8, 16, 32, then 60 s.
#[test]
fn poll_back_off_for_an_empty_service() {
    let mut c = client();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Out::default();
    subscribe_demo(&mut c, &mut rng, &mut out);
    let mut delays = Vec::new();
    let mut now = 0;
    for _ in 0..8 {
        let id = poll(&mut c, ms(now), &mut rng, &mut out);
        out.clear();
        let result = Ok(Msg::Service(Rc::new(empty_demo())));
        c.handle(ms(now + 2), Input::Response { id, result }, &mut rng, &mut out);
        let d = out
            .wishes()
            .find_map(|w| match w {
                Wish::SetTimer { after, .. } => Some(after.as_millis()),
                _ => None,
            })
            .unwrap();
        delays.push(d);
        now += 2 + d;
    }
    assert_eq!(delays, vec![2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
}

/// R4.10: a poll answer changes the subscriber's view only when a host was added, removed or
/// modified; the same hosts, in the same or another order, change nothing.
#[test]
fn same_hosts_in_any_order_leave_the_view_unchanged() {
    let mut h = Harness::new();
    h.request(ms(0), register("10.1.0.2", 8080));
    h.request(ms(0), register("10.1.0.3", 8080));
    let info = h.list(ms(10));
    assert_eq!(info.hosts.len(), 2);
    let mut c = client();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Out::default();
    subscribe_demo(&mut c, &mut rng, &mut out);
    let mut answer = |hosts: Vec<HostJson>| {
        let id = poll(&mut c, ms(20), &mut rng, &mut out);
        out.clear();
        let info = ServiceInfo { hosts: hosts.into(), ..(*info).clone() };
        c.handle(ms(22), Input::Response { id, result: Ok(Msg::Service(Rc::new(info))) }, &mut rng, &mut out);
        out.take_observations().iter().filter(|o| o.kind() == "subscriber_view_changed").count()
    };
    assert_eq!(answer(info.hosts.to_vec()), 1, "first data");
    assert_eq!(answer(info.hosts.to_vec()), 0, "same hosts");
    assert_eq!(answer(info.hosts.iter().rev().cloned().collect()), 0, "same hosts, other order");
    let mut sick = info.hosts.to_vec();
    sick[1].healthy = false;
    assert_eq!(answer(sick), 1, "one host modified");
    assert_eq!(answer(info.hosts[..1].to_vec()), 1, "one host removed");
}

/// R2.3/R2.4: registering an instance again replaces its BeatInfo, whose pending timer then
/// stops; deregistering stops the new one. Only a live BeatInfo's timer sends a beat.
#[test]
fn a_replaced_or_removed_beat_info_stops_its_timer() {
    let mut c = client();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Out::default();
    let register = || ClientCmd::Register {
        service: "demo".into(),
        group: "DEFAULT_GROUP".into(),
        ip: "10.1.0.2".into(),
        port: 8080,
        cluster: "DEFAULT".into(),
        weight: 1.0,
        metadata: Rc::default(),
        ephemeral: true,
    };
    let mut beat_timers = |c: &mut NamingClient, out: &mut Out, cmd: ClientCmd| {
        out.clear();
        c.handle(ms(0), Input::Command(Box::new(cmd)), &mut rng, out);
        out.wishes()
            .filter_map(|w| match w {
                Wish::SetTimer { timer: t @ Timer::Client(ClientTimer::Beat(_)), .. } => Some(t.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let first = beat_timers(&mut c, &mut out, register());
    let second = beat_timers(&mut c, &mut out, register());
    assert_eq!((first.len(), second.len()), (1, 1));
    // One Outputs for every input, as the engine has: its exchange ids keep growing.
    let sends = |c: &mut NamingClient, out: &mut Out, timer: &Timer| {
        out.clear();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        c.handle(ms(5000), Input::Timer { id: TimerId(0), timer: timer.clone() }, &mut rng, out);
        out.wishes().filter(|w| matches!(w, Wish::Request { msg: Msg::Beat(_), .. })).count()
    };
    assert_eq!(sends(&mut c, &mut out, &first[0]), 0, "the replaced BeatInfo's timer");
    assert_eq!(sends(&mut c, &mut out, &second[0]), 1, "the live BeatInfo's timer");
    let deregister = ClientCmd::Deregister {
        service: "demo".into(),
        group: "DEFAULT_GROUP".into(),
        ip: "10.1.0.2".into(),
        port: 8080,
        cluster: "DEFAULT".into(),
        ephemeral: true,
    };
    beat_timers(&mut c, &mut out, deregister);
    assert_eq!(sends(&mut c, &mut out, &second[0]), 0, "a removed BeatInfo's timer");
    let third = beat_timers(&mut c, &mut out, register());
    assert_eq!(sends(&mut c, &mut out, &second[0]), 0, "an old timer never reaches a newer BeatInfo in its slot");
    assert_eq!(sends(&mut c, &mut out, &third[0]), 1);
}

fn run_scenario(json: &str) -> (world::World, Vec<expect::ExpectOutcome>) {
    let sc = scenario::parse("inline.json", json).expect("valid scenario");
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    let outcomes = expect::check_expectations(&sc.expect, &w);
    (w, outcomes)
}

fn times_of(w: &world::World, kind: &str) -> Vec<i64> {
    w.engine.records.iter().filter(|r| r.obs.kind() == kind).map(|r| r.at.as_millis()).collect()
}

/// R3.9/R3.10: a push to a client that never acks is sent at t and t + 10 s, given up at t + 20 s.
#[test]
fn push_to_silent_client_sends_twice_then_gives_up() {
    let (w, _) = run_scenario(
        r#"{
        "name": "silent", "seed": 1, "duration": "60s",
        "servers": [{"id": "s1"}],
        "clients": [
          {"id": "p1", "register": [{"at": "1s", "service": "demo", "port": 1}]},
          {"id": "p2", "register": [{"at": "10s", "service": "demo", "port": 2}]},
          {"id": "c", "subscribe": [{"at": "3s", "service": "demo"}]}
        ],
        "faults": [{"kind": "link", "at": "5s", "from": ["s1"], "to": ["c"], "set": {"udp_loss": 1.0}}]
    }"#,
    );
    // c subscribes after p1's push round (2.001013 s); p2 registers at 10 s, its datum reaches
    // the Service at 10.001013 s, the round runs 1 s later.
    assert_eq!(times_of(&w, "push_sent"), vec![11_001, 21_001]);
    assert_eq!(times_of(&w, "push_given_up"), vec![31_001]);
    assert!(times_of(&w, "push_acked").is_empty());
}

/// R2.5/R2.12: after a server restart, a light beat gets 20404 and the client re-registers.
#[test]
fn light_beat_after_server_restart_reregisters() {
    let (w, _) = run_scenario(
        r#"{
        "name": "restart", "seed": 1, "duration": "30s",
        "servers": [{"id": "s1"}],
        "clients": [{"id": "p1", "register": [{"at": "1s", "service": "demo", "port": 1}]}],
        "faults": [{"kind": "crash", "node": "s1", "at": "12s", "until": "13s"}]
    }"#,
    );
    // The BeatInfo is added before the register call (R2.1), so beats go out at 6.000 s (full),
    // 11.002 s and 16.004 s (light: one period after each 2 ms round trip returned). The last
    // reaches the restarted server at 16.005 s, the 20404 reaches the client at 16.006 s.
    assert_eq!(times_of(&w, "beat_for_unknown_instance"), vec![16_005]);
    assert_eq!(times_of(&w, "reregister"), vec![16_006]);
    assert_eq!(times_of(&w, "instance_added"), vec![1_001, 16_007]);
}

fn garbled_beat_replies(version: &str) -> world::World {
    let json = r#"{
        "name": "garble", "seed": 1, "duration": "45s",
        "servers": [{"id": "s1"}],
        "clients": [{"id": "p1", "version": "VERSION", "register": [{"at": "1s", "service": "demo", "port": 1}]}],
        "faults": [{"kind": "link", "at": "5s", "from": ["s1"], "to": ["p1"], "set": {"http_garble": 1.0}}]
    }"#;
    run_scenario(&json.replace("VERSION", version)).0
}

/// R2.5 @1.4.1: a reply that does not parse throws outside `NacosException`, the BeatTask is
/// not rescheduled and the instance expires although the process is alive. @1.4.2 beats on.
#[test]
fn unparseable_beat_reply_kills_the_beat_loop_only_up_to_1_4_1() {
    let w = garbled_beat_replies("1.4.1");
    // The 6.000 s beat is processed at 6.001 s; its reply arrives garbled at 6.002 s.
    assert_eq!(times_of(&w, "beat_task_died"), vec![6_002]);
    // Checks run at 6.001 + 5k s: 21.001 − 6.001 = 15 s is not > 15 s; 26.001 is.
    assert_eq!(times_of(&w, "instance_unhealthy"), vec![26_001]);
    assert_eq!(times_of(&w, "delete_requested"), vec![41_001]);

    let w = garbled_beat_replies("1.4.2");
    assert!(times_of(&w, "beat_task_died").is_empty());
    assert!(times_of(&w, "instance_unhealthy").is_empty(), "the server still receives every beat");
}

/// R3.11: a subscriber that reports a `clientIP` other than the address its acks come from
/// receives every push twice and the server counts each round as failed.
#[test]
fn acks_from_another_address_never_match() {
    let (w, _) = run_scenario(
        r#"{
        "name": "nic", "seed": 1, "duration": "60s",
        "servers": [{"id": "s1"}],
        "clients": [
          {"id": "p1", "register": [{"at": "1s", "service": "demo", "port": 1}]},
          {"id": "p2", "register": [{"at": "10s", "service": "demo", "port": 2}]},
          {"id": "c", "reported_ip": "192.168.7.7", "subscribe": [{"at": "3s", "service": "demo"}]}
        ]
    }"#,
    );
    assert_eq!(times_of(&w, "push_sent"), vec![11_001, 21_001]);
    assert_eq!(times_of(&w, "push_received"), vec![11_002, 21_002]);
    assert!(times_of(&w, "push_acked").is_empty());
    assert_eq!(times_of(&w, "push_given_up"), vec![31_001]);
}

/// R4.14/R4.2: the switch is read every 5 s; failover copies are those written at +10 s; a
/// subscription made in failover mode never polls.
#[test]
fn failover_switch_is_noticed_at_the_next_refresh_and_blocks_new_subscriptions() {
    let (w, _) = run_scenario(
        r#"{
        "name": "failover", "seed": 1, "duration": "60s",
        "servers": [{"id": "s1"}],
        "clients": [
          {"id": "p1", "register": [{"at": "1s", "service": "demo", "port": 1},
                                    {"at": "1s", "service": "late", "port": 2}]},
          {"id": "c", "subscribe": [{"at": "2s", "service": "demo"}, {"at": "25s", "service": "late"}],
           "failover": [{"at": "16s", "on": true}, {"at": "31s", "on": false}]}
        ]
    }"#,
    );
    let switched: Vec<(i64, String)> = w
        .engine
        .records
        .iter()
        .filter(|r| r.obs.kind() == "failover_switched")
        .map(|r| (r.at.as_millis(), serde_json::to_string(&r.obs).unwrap()))
        .collect();
    assert_eq!(switched.len(), 2);
    assert_eq!(switched[0].0, 20_000);
    assert!(switched[0].1.contains(r#""on":true,"services":1"#), "{}", switched[0].1);
    assert_eq!(switched[1].0, 35_000);
    let late_views = w
        .engine
        .records
        .iter()
        .filter(|r| matches!(&r.obs, Observation::SubscriberViewChanged { service, .. } if service.contains("late")))
        .count();
    assert_eq!(late_views, 0, "subscribed in failover mode: never polled, even after the switch is off");
}

/// R1.34 / R2.13: `EmptyServiceAutoClean` removes the empty service at 140 s (the fifth empty
/// sighting of the 60 s / 20 s code timing); it is created again at 140.501 s, before its old
/// `ClientBeatCheckTask` (phase 1.001 s) would next run. The old task died with its service, so
/// the re-created one is checked on its own phase: p2 (last beat 145.502 s, crashed at 150 s)
/// is unhealthy at 165.501 s, not at the old phase's 161.001 s.
#[test]
fn a_removed_services_check_task_stops_even_if_the_service_returns() {
    let sc = scenario::parse(
        "recreate.json",
        r#"{"name": "recreate", "seed": 1, "duration": "200s",
        "servers": [{"id": "s1"}],
        "switches": {"empty_service_clean": "code_timing"},
        "clients": [
          {"id": "p1", "register": [{"at": "1s", "service": "demo", "port": 1}], "deregister": [{"at": "2s", "service": "demo", "port": 1}]},
          {"id": "p2", "register": [{"at": "140.5s", "service": "demo", "port": 2}]}],
        "faults": [{"kind": "crash", "node": "p2", "at": "150s"}]}"#,
    )
    .unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    let at = |kind: &str| -> Vec<i64> {
        w.engine.records.iter().filter(|r| r.obs.kind() == kind).map(|r| r.at.as_millis()).collect()
    };
    assert_eq!(at("service_removed"), [140_000]);
    assert_eq!(at("service_created"), [1_001, 140_501]);
    assert_eq!(at("instance_unhealthy"), [165_501]);
    assert_eq!(at("delete_requested"), [180_501]);
}

/// R3.4: a push round's sends go out when it starts, but its task ends (and its `futureMap`
/// entry goes) only after building and sending each subscriber's data: 20 µs per send plus
/// 10 µs per instance. A change in that window is absorbed and never pushed; one after it
/// schedules the next round.
#[test]
fn a_change_during_a_push_round_is_absorbed_and_not_pushed() {
    let mut h = Harness::new();
    h.request(ms(0), register("10.1.0.2", 8080));
    // Polled 1 s before the round, so not a zombie (10 s) at it.
    h.request(ms(15_000), list_req(54321));
    let timer = |h: &mut Harness, at: Time, timer: Timer| -> Vec<(Dur, Timer)> {
        let mut out = Out::default();
        h.s.handle(at, Input::Timer { id: TimerId(0), timer }, &mut h.rng, &mut out);
        timers_set(&out)
    };
    let is_round = |t: &Timer| matches!(t, Timer::Server(ServerTimer::PushRound(_)));
    // The round the registration scheduled, run late: the instance's lastBeat (0) is then
    // past its 15 s timeout, so a check in the window marks it unhealthy.
    let round = ms(16_000);
    let set = timer(&mut h, round, Timer::Server(ServerTimer::PushRound(Rc::new(svc()))));
    let (work, done) = set
        .into_iter()
        .find(|(_, t)| matches!(t, Timer::Server(ServerTimer::PushRoundDone(_))))
        .expect("the round's end is scheduled");
    assert_eq!(work, Dur(30_000), "one subscriber, one instance: 20 + 10 µs");
    assert!(h.s.push.pending_rounds.contains(&svc()), "the round's entry stays until its end");
    let task = h.s.services[&svc()].check_task.clone();
    let set = timer(&mut h, round + Dur(29_999), Timer::Server(ServerTimer::ClientBeatCheck(task)));
    assert!(!set.iter().any(|(_, t)| is_round(t)), "the health flip in the window is absorbed");
    assert!(timer(&mut h, round + work, done).is_empty());
    assert!(!h.s.push.pending_rounds.contains(&svc()));
    // A beat just after the round's end heals the instance: that change schedules a round.
    h.request(round + work, beat("10.1.0.2", 8080, false));
    assert!(h.s.push.pending_rounds.contains(&svc()), "after the round's end a change schedules a round");
}
