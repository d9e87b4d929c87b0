//! The scenario language as users write it: what `expect` blocks can say, what `check` refuses
//! and where, each run on a small scenario with exact times.

use nacos_sim::scenario::{self, expect, world};

/// One server, a provider that crashes at 42 s and a consumer (the trace of
/// `scenarios/client-crash.json` with a fixed crash time): unhealthy at 61.001 s, pushes at
/// 62.001 s (468 bytes) and 77.002 s (195 bytes), deleted at 76.002 s, the consumer's view empty
/// at 77.003 s. `expect` and `extra` are spliced in.
fn crash_scenario(expect: &str, extra: &str) -> String {
    format!(
        r#"{{
  "name": "crash", "seed": 7, "duration": "120s",
  "servers": [{{ "id": "s1" }}],
  "clients": [
    {{ "id": "provider", "register": [{{ "at": "1s", "service": "demo", "port": 8080 }}] }},
    {{ "id": "consumer", "subscribe": [{{ "at": "3s", "service": "demo" }}] }}
  ],
  "faults": [{{ "kind": "crash", "node": "provider", "at": "42s" }}],
  {extra}
  "expect": [{expect}]
}}"#
    )
}

fn outcomes(json: &str) -> Vec<expect::ExpectOutcome> {
    let sc = scenario::parse("inline.json", json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    expect::check_expectations(&sc.expect, &w)
}

fn one(expect: &str) -> expect::ExpectOutcome {
    outcomes(&crash_scenario(expect, "")).remove(0)
}

fn rejected(json: &str) -> (String, String) {
    let e = scenario::parse("inline.json", json).expect_err("must be rejected");
    (e.path, e.message)
}

#[test]
fn after_measures_from_the_first_matching_observation() {
    let o = one(r#"{ "observation": "subscriber_view_changed", "node": "consumer", "where": { "hosts": [] },
             "after": { "observation": "instance_removed", "node": "s1", "where": { "port": 8080 } },
             "within": ["0s", "1.001s"], "first": true }"#);
    assert!(o.ok, "{}", o.message);
    assert!(o.message.contains("in (76.002s, 77.003s]") && o.message.ends_with("at 77.003s"), "{}", o.message);
    // One millisecond less and the same view change falls outside.
    let o = one(r#"{ "observation": "subscriber_view_changed", "node": "consumer", "where": { "hosts": [] },
             "after": { "observation": "instance_removed", "node": "s1" }, "within": ["0s", "1s"], "first": true }"#);
    assert!(!o.ok && o.message.contains("it came at 77.003s"), "{}", o.message);
}

#[test]
fn an_anchor_that_never_comes_fails_the_entry() {
    let o = one(r#"{ "observation": "push_sent", "never": true,
             "after": { "observation": "instance_removed", "where": { "port": 9999 } } }"#);
    assert!(!o.ok, "{}", o.message);
    assert!(o.message.contains("instance_removed where {\"port\":9999} never came"), "{}", o.message);
}

#[test]
fn observations_before_the_anchor_do_not_count() {
    // Both pushes come after the provider's registration; only the second after its removal.
    let after_removal = one(r#"{ "observation": "push_sent", "node": "s1", "count": [1, 1],
             "after": { "observation": "instance_removed" } }"#);
    assert!(after_removal.ok && after_removal.message.ends_with("seen 1"), "{}", after_removal.message);
}

#[test]
fn count_bounds_the_matching_observations() {
    let exact = one(r#"{ "observation": "push_sent", "node": "s1", "count": [2, 2] }"#);
    assert!(exact.ok && exact.message.ends_with("2 to 2 times: seen 2"), "{}", exact.message);
    let too_few = one(r#"{ "observation": "push_sent", "node": "s1", "count": [3, 5] }"#);
    assert!(!too_few.ok && too_few.message.ends_with("3 to 5 times: seen 2"), "{}", too_few.message);
    let windowed = one(r#"{ "observation": "push_sent", "within": ["62s", "62.001s"], "count": [1, 1] }"#);
    assert!(windowed.ok, "{}", windowed.message);
    let zero = one(r#"{ "observation": "push_given_up", "count": [0, 0] }"#);
    assert!(zero.ok, "{}", zero.message);
}

#[test]
fn where_compares_numbers_and_strings() {
    let big = one(r#"{ "observation": "push_sent", "where": { "bytes": { "gt": 400 } }, "count": [1, 1] }"#);
    assert!(big.ok, "{}", big.message);
    let small = one(
        r#"{ "observation": "push_sent", "where": { "bytes": { "lt": 400 } }, "within": ["77s", "77.002s"], "first": true }"#,
    );
    assert!(small.ok && small.message.ends_with("at 77.002s"), "{}", small.message);
    let beat =
        one(r#"{ "observation": "instance_unhealthy", "where": { "last_beat_ms": { "ge": 41015, "le": 41015 } },
             "within": ["61s", "61.001s"] }"#);
    assert!(beat.ok, "{}", beat.message);
    let to = one(
        r#"{ "observation": "push_sent", "where": { "client": { "contains": "10.1.0.3:54321" }, "attempt": { "ne": 2 } },
             "count": [2, 2] }"#,
    );
    assert!(to.ok, "{}", to.message);
    let nowhere =
        one(r#"{ "observation": "push_sent", "where": { "client": { "contains": "10.9." } }, "never": true }"#);
    assert!(nowhere.ok, "{}", nowhere.message);
}

#[test]
fn check_names_a_key_the_observation_kind_lacks() {
    let (path, message) =
        rejected(&crash_scenario(r#"{ "observation": "instance_removed", "where": { "prot": 8080 } }"#, ""));
    assert_eq!(path, "expect[0].where.prot");
    assert!(message.contains("`instance_removed` has no field \"prot\"") && message.contains("\"port\""), "{message}");
    let (path, message) = rejected(&crash_scenario(
        r#"{ "observation": "subscriber_view_changed", "view_has": { "ip": "10.1.0.2", "helthy": true } }"#,
        "",
    ));
    assert_eq!(path, "expect[0].view_has.helthy");
    assert!(message.contains("[\"enabled\", \"healthy\", \"ip\", \"metadata\", \"port\", \"weight\"]"), "{message}");
    let (path, _) = rejected(&crash_scenario(
        r#"{ "observation": "push_sent", "after": { "observation": "instance_removed", "where": { "healthy": true } } }"#,
        "",
    ));
    assert_eq!(path, "expect[0].after.where.healthy");
}

#[test]
fn check_refuses_values_that_could_never_match() {
    let cases = [
        (r#"{ "observation": "instance_removed", "where": { "port": "8080" } }"#, "expect[0].where.port", "a number"),
        (
            r#"{ "observation": "push_sent", "where": { "client": { "gt": 3 } } }"#,
            "expect[0].where.client.gt",
            "compares numbers",
        ),
        (
            r#"{ "observation": "push_sent", "where": { "bytes": { "contains": "4" } } }"#,
            "expect[0].where.bytes.contains",
            "`contains` takes a string",
        ),
        (
            r#"{ "observation": "push_sent", "where": { "bytes": { "gte": 4 } } }"#,
            "expect[0].where.bytes.gte",
            "unknown comparison \"gte\"",
        ),
        (r#"{ "observation": "push_sent", "where": { "bytes": {} } }"#, "expect[0].where.bytes", "comparisons"),
        (
            r#"{ "observation": "instance_removed", "view_has": { "ip": "x" } }"#,
            "expect[0].view_has",
            "no `hosts` list",
        ),
        (r#"{ "observation": "push_sent", "count": [3, 1] }"#, "expect[0].count", "min <= max"),
        (r#"{ "observation": "push_sent", "count": [0, 1], "never": true }"#, "expect[0].count", "exclude each other"),
        (
            r#"{ "observation": "push_sent", "after_fault": 0, "after": { "observation": "push_acked" } }"#,
            "expect[0].after",
            "exclude each other",
        ),
        (
            r#"{ "observation": "push_sent", "after": { "observation": "push_ackd" } }"#,
            "expect[0].after.observation",
            "unknown observation kind",
        ),
        (
            r#"{ "observation": "push_sent", "after": { "observation": "push_acked", "node": "s9" } }"#,
            "expect[0].after.node",
            "unknown node",
        ),
    ];
    for (entry, want_path, want_message) in cases {
        let (path, message) = rejected(&crash_scenario(entry, ""));
        assert_eq!(path, want_path, "{entry}: {message}");
        assert!(message.contains(want_message), "{entry}: {message}");
    }
}

/// With instance expiry off, a crashed provider's instance stays forever: the convergence check
/// fails on exactly one clause, which `expect_fail` can pin.
#[test]
fn a_known_non_convergence_can_be_pinned() {
    let expiry_off = r#""switches": { "expire_instance": false },"#;
    let run = |converge: &str| outcomes(&crash_scenario("", &format!("{expiry_off} \"converge\": {converge},")));
    let plain = run("true");
    assert_eq!(plain.len(), 1);
    assert!(!plain[0].ok && plain[0].message.starts_with("not converged, no_instance_without_a_live_client"));
    let pinned = run(r#"{ "expect_fail": ["no_instance_without_a_live_client"] }"#);
    assert!(pinned.len() == 1 && pinned[0].ok, "{:?}", pinned);
    assert!(pinned[0].message.starts_with("known non-convergence, as pinned"), "{}", pinned[0].message);
    let wrong = run(r#"{ "expect_fail": ["no_instance_without_a_live_client", "same_datum_on_every_live_server"] }"#);
    assert_eq!(wrong.iter().filter(|o| !o.ok).count(), 1, "{wrong:?}");
    assert!(wrong.iter().any(|o| o.message.contains("expected same_datum_on_every_live_server to fail")));
    let (path, message) = rejected(&crash_scenario("", r#""converge": { "expect_fail": ["same_datums"] },"#));
    assert_eq!(path, "converge.expect_fail[0]");
    assert!(message.contains("unknown clause \"same_datums\""), "{message}");
}

/// `for` ends a fault a fixed time after its random start: s2 crashes somewhere in [40 s, 45 s]
/// and restarts (its snapshot load starts) exactly 20 s later.
#[test]
fn a_fault_lasts_for_a_fixed_time_from_a_random_start() {
    let scenario = |faults: &str| {
        format!(
            r#"{{ "name": "for", "seed": 3, "duration": "90s",
                 "servers": [{{ "id": "s1" }}, {{ "id": "s2" }}, {{ "id": "s3" }}],
                 "faults": [{faults}],
                 "expect": [{{ "observation": "snapshot_load_started", "node": "s2", "after_fault": 0,
                              "within": ["19.999s", "20s"], "first": true }}] }}"#
        )
    };
    let crash = |window: &str| {
        format!(r#"{{ "kind": "crash", "node": "s2", "at": {{ "uniform": [{window}] }}, "for": "20s" }}"#)
    };
    let o = outcomes(&scenario(&crash(r#""40s", "45s""#))).remove(0);
    assert!(o.ok && o.message.contains("(fault 0 at 41.724s) at 61.724s"), "{}", o.message);
    let cases = [
        (
            r#"{ "kind": "crash", "node": "s2", "at": "40s", "until": "50s", "for": "20s" }"#,
            "faults[0].for",
            "exclude each other",
        ),
        (r#"{ "kind": "partition", "at": "40s", "for": "0s", "groups": [["s2"]] }"#, "faults[0].for", "positive"),
        (r#"{ "kind": "pause", "node": "s2", "at": "40s" }"#, "faults[0].until", "`until` or `for`"),
    ];
    for (fault, want_path, want) in cases {
        let (path, message) = rejected(&scenario(fault));
        assert_eq!(path, want_path, "{fault}: {message}");
        assert!(message.contains(want), "{fault}: {message}");
    }
}

/// One server; the provider registers with metadata at 1 s and crashes at 30 s; the consumer
/// subscribes at 2 s. `operations` are spliced in.
fn operated(operations: &str) -> world::World {
    let json = format!(
        r#"{{ "name": "op", "seed": 1, "duration": "60s", "servers": [{{ "id": "s1" }}],
  "clients": [
    {{ "id": "provider", "register": [{{ "at": "1s", "service": "demo", "port": 8080, "metadata": {{ "version": "v1" }} }}] }},
    {{ "id": "consumer", "subscribe": [{{ "at": "3s", "service": "demo" }}] }}
  ],
  "faults": [{{ "kind": "crash", "node": "provider", "at": "30s" }}],
  "operations": [{operations}] }}"#
    );
    let sc = scenario::parse("inline.json", &json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    w
}

fn lines(w: &world::World, kinds: &[&str]) -> Vec<String> {
    let records = w.engine.records.iter().filter(|r| kinds.contains(&r.obs.kind()));
    records.map(|r| world::trace_line(r, &w.names)).collect()
}

/// The console's PUT /instance replaces the instance whole: disabled, it leaves the consumer's
/// view with the next push (one debounce later), and the metadata the form did not send is gone.
#[test]
fn disabling_an_instance_in_the_console_hides_it_and_drops_its_metadata() {
    let w = operated(
        r#"{ "op": "update_instance", "at": "20s", "via": "s1", "service": "demo", "ip": "10.1.0.2", "port": 8080,
             "enabled": false }"#,
    );
    let seen = lines(&w, &["operation_answered", "instance_registered", "subscriber_view_changed"]);
    assert_eq!(
        seen[2..],
        [
            r#"{"t_ms":20001.000,"node":"s1","kind":"instance_registered","service":"DEFAULT_GROUP@@demo","ip":"10.1.0.2","port":8080}"#,
            r#"{"t_ms":20002.000,"node":"s1","kind":"operation_answered","op":"update_instance","status":200,"body":"ok"}"#,
            r#"{"t_ms":21002.013,"node":"consumer","kind":"subscriber_view_changed","service":"DEFAULT_GROUP@@demo","hosts":[]}"#,
        ]
    );
    let nacos_sim::naming::Process::Server(s1) = w.engine.node(0) else { panic!("s1 is a server") };
    let instance = s1.services.iter().flat_map(|(_, s)| s.all_ips(true)).next().expect("still registered");
    assert!(!instance.enabled && instance.metadata.is_empty());
}

/// `set_switch` in debug mode changes that server's switches at once: with health checks off
/// (`check`), the provider that crashes at 30 s is never marked unhealthy nor deleted.
#[test]
fn a_switch_set_at_run_time_applies_at_once() {
    let off = r#"{ "op": "set_switch", "at": "25s", "via": "s1", "entry": "check", "value": false, "debug": true }"#;
    let w = operated(off);
    assert_eq!(
        lines(&w, &["operation_answered"]),
        [r#"{"t_ms":25002.000,"node":"s1","kind":"operation_answered","op":"set_switch","status":200,"body":"ok"}"#]
    );
    assert!(lines(&w, &["instance_unhealthy", "delete_requested", "instance_removed"]).is_empty());
    // The same run without the switch: the last beat at 26.009 s, unhealthy at the first
    // check (every 5 s from 1.001 s) more than 15 s later.
    let w = operated("");
    assert!(lines(&w, &["instance_unhealthy"])[0].starts_with(r#"{"t_ms":46001.000"#));
    assert!(lines(&w, &["instance_unhealthy"])[0].ends_with(r#""last_beat_ms":26009}"#));
    // Nacos's own checks on the value: below 10 s a push cache is refused with its message.
    let w = operated(
        r#"{ "op": "set_switch", "at": "25s", "via": "s1", "entry": "pushCacheMillis", "value": 5000, "debug": true }"#,
    );
    assert!(lines(&w, &["operation_answered"])[0]
        .ends_with(r#""status":400,"body":"min cache time for http or tcp is too small(<10000)"}"#));
}

#[test]
fn check_refuses_operations_it_cannot_run_as_written() {
    let cases = [
        (r#"{ "op": "touch_cluster_conf", "at": "1s", "via": "provider" }"#, "operations[0].via", "unknown server"),
        (
            r#"{ "op": "set_switch", "at": "1s", "via": "s1", "entry": "healthCheckEnabled", "value": false, "debug": true }"#,
            "operations[0].entry",
            "\"check\"",
        ),
        (
            r#"{ "op": "set_switch", "at": "1s", "via": "s1", "entry": "check", "value": "off", "debug": true }"#,
            "operations[0].value",
            "true or false",
        ),
        (
            r#"{ "op": "update_metadata", "at": "1s", "via": "s1", "service": "demo", "metadata": {} }"#,
            "operations[0]",
            "`instances` or `consistency_type`",
        ),
        (
            r#"{ "op": "delete_service", "at": "1s", "via": "s1", "service": "demo service" }"#,
            "operations[0].service",
            "must match [0-9a-zA-Z@.:_-]+",
        ),
        (
            r#"{ "op": "update_service", "at": "1s", "via": "s1", "service": "demo", "protect_threshold": 2 }"#,
            "operations[0].protect_threshold",
            "a share in [0, 1]",
        ),
    ];
    for (op, want_path, want) in cases {
        let json = format!(
            r#"{{ "name": "op", "seed": 1, "duration": "10s", "servers": [{{ "id": "s1" }}],
                 "clients": [{{ "id": "provider" }}], "operations": [{op}] }}"#
        );
        let (path, message) = rejected(&json);
        assert_eq!(path, want_path, "{op}: {message}");
        assert!(message.contains(want), "{op}: {message}");
    }
}

/// One server; the provider registers at 1 s; the consumer (client `version`) subscribes at
/// 2 s. `provider` and `consumer` splice more fields into each client.
fn client_actions(version: &str, provider: &str, consumer: &str) -> world::World {
    let json = format!(
        r#"{{ "name": "client", "seed": 1, "duration": "60s", "servers": [{{ "id": "s1" }}],
  "clients": [
    {{ "id": "provider", "register": [{{ "at": "1s", "service": "demo", "port": 8080 }}] {provider} }},
    {{ "id": "consumer", "version": "{version}", "subscribe": [{{ "at": "2s", "service": "demo" }}] {consumer} }}
  ] }}"#
    );
    let sc = scenario::parse("inline.json", &json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    w
}

/// C3: up to client 1.4.3 `unsubscribe` only drops the listener and the `UpdateTask` polls on
/// (here the view still follows the provider's stopped heartbeats); from 1.4.4 the task stops
/// after its next run (cacheMillis 10 s after the last one) and the cached service goes.
#[test]
fn unsubscribing_stops_polling_from_client_1_4_4_only() {
    let stop = r#", "stop_beat": [{ "at": "10s", "service": "demo", "port": 8080 }]"#;
    let unsubscribe = r#", "unsubscribe": [{ "at": "5s", "service": "demo" }]"#;
    let w = client_actions("1.4.4", stop, unsubscribe);
    let seen = lines(&w, &["unsubscribed", "update_task_stopped"]);
    assert_eq!(
        seen,
        [
            r#"{"t_ms":5000.000,"node":"consumer","kind":"unsubscribed","service":"DEFAULT_GROUP@@demo"}"#,
            r#"{"t_ms":13006.000,"node":"consumer","kind":"update_task_stopped","service":"DEFAULT_GROUP@@demo"}"#,
        ]
    );
    let views_after = |w: &world::World| {
        w.engine.records.iter().filter(|r| r.obs.kind() == "subscriber_view_changed" && r.at.as_millis() > 5000).count()
    };
    assert_eq!(views_after(&w), 0, "no view change once the task stopped");
    let w = client_actions("1.4.1", stop, unsubscribe);
    assert!(lines(&w, &["update_task_stopped"]).is_empty());
    // Still polled and pushed: the removal at 41.002 s reaches the unsubscribed client.
    assert_eq!(views_after(&w), 1);
}

/// `stop_beat` removes the BeatInfo only: the last beat at 6.001 s, unhealthy at the first
/// check more than 15 s later, deleted more than 30 s later.
#[test]
fn stopping_the_beat_expires_the_instance() {
    let w = client_actions("1.4.1", r#", "stop_beat": [{ "at": "10s", "service": "demo", "port": 8080 }]"#, "");
    let times = |kind: &str| {
        w.engine.records.iter().filter(|r| r.obs.kind() == kind).map(|r| r.at.as_millis()).collect::<Vec<_>>()
    };
    assert_eq!(times("instance_unhealthy"), [26_001]);
    assert_eq!(times("instance_removed"), [41_002]);
}

/// A one-shot query sends no UDP port (no push registration) and answers what the
/// application gets: `getAllInstances`, or `selectInstances` filtered by health, where a
/// service with no healthy instance is served all-healthy (protect threshold 0).
#[test]
fn a_query_answers_what_the_application_gets() {
    let queries = r#", "query": [{ "at": "3s", "service": "demo" }, { "at": "30s", "service": "demo", "select": "healthy" },
                                  { "at": "30s", "service": "demo", "select": "unhealthy" }, { "at": "45s", "service": "demo" }]"#;
    let w = client_actions("1.4.1", r#", "stop_beat": [{ "at": "10s", "service": "demo", "port": 8080 }]"#, queries);
    let host = r#"[{"ip":"10.1.0.2","port":8080,"healthy":true,"weight":1.0,"enabled":true,"metadata":{}}]"#;
    let answer = |t: &str, hosts: &str| {
        format!(
            r#"{{"t_ms":{t},"node":"consumer","kind":"query_answered","service":"DEFAULT_GROUP@@demo","hosts":{hosts},"ok":true}}"#
        )
    };
    assert_eq!(
        lines(&w, &["query_answered"]),
        [answer("3002.000", host), answer("30002.000", host), answer("30002.000", "[]"), answer("45002.000", "[]")]
    );
    // The subscription registered one push client; the queries none.
    assert_eq!(lines(&w, &["push_client_added"]).len(), 1);
}

fn observed(json: &str, kinds: &[&str]) -> Vec<String> {
    let sc = scenario::parse("inline.json", json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    lines(&w, kinds)
}

/// `observe.requests`: what a server answered, refusals by its filters included. An operator
/// overrides s1's status to DOWN at 10 s; `ServerStatusManager` applies it at its 15 s run, and
/// from then TrafficReviseFilter answers the provider's beats 503 (three tries, then the call
/// gives up).
#[test]
fn request_answered_shows_what_each_server_answered() {
    let json = r#"{ "name": "down", "seed": 1, "duration": "17s", "servers": [{ "id": "s1" }],
        "observe": { "requests": true },
        "clients": [{ "id": "provider", "register": [{ "at": "1s", "service": "demo", "port": 8080 }] }],
        "operations": [{ "op": "set_switch", "at": "10s", "via": "s1", "entry": "overriddenServerStatus",
                         "value": "DOWN", "debug": true }] }"#;
    let seen = observed(json, &["request_answered", "server_status_changed"]);
    let answer = |t: &str, api: &str, from: &str, status: u16, message: &str| {
        format!(
            r#"{{"t_ms":{t},"node":"s1","kind":"request_answered","api":"{api}","from":"{from}","status":{status},"message":"{message}","hosts":null,"cache_millis":null,"last_ref_time":null,"metadata":null}}"#
        )
    };
    let beat = "PUT /nacos/v1/ns/instance/beat";
    let down = "server is DOWN now, please try again later!";
    assert_eq!(seen[1], answer("1001.000", "POST /nacos/v1/ns/instance", "10.1.0.2", 200, "ok"));
    assert_eq!(seen[2], answer("6001.000", beat, "10.1.0.2", 200, "code 10200"));
    assert_eq!(seen[3], answer("10001.000", "PUT /nacos/v1/ns/operator/switches", "10.0.0.1", 200, "ok"));
    assert_eq!(seen[4], answer("11003.000", beat, "10.1.0.2", 200, "code 10200"));
    assert_eq!(seen[5], r#"{"t_ms":15000.000,"node":"s1","kind":"server_status_changed","from":"UP","to":"DOWN"}"#);
    assert_eq!(
        seen[6..],
        [
            answer("16005.000", beat, "10.1.0.2", 503, down),
            answer("16007.000", beat, "10.1.0.2", 503, down),
            answer("16009.000", beat, "10.1.0.2", 503, down)
        ]
    );
    // Off by default: the same run records none.
    let quiet = json.replace(r#""observe": { "requests": true },"#, "");
    assert!(observed(&quiet, &["request_answered"]).is_empty());
    // `requests_from` keeps the listed callers' requests (the console, from s1's own host, is s1).
    let console = json.replace(r#""requests": true"#, r#""requests": true, "requests_from": ["s1"]"#);
    let seen = observed(&console, &["request_answered"]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("/operator/switches"), "{seen:?}");
    let wrong = json.replace(r#""requests": true"#, r#""requests_from": ["provider"]"#);
    assert_eq!(rejected(&wrong), ("observe.requests_from".into(), "needs \"requests\": true".into()));
    let unknown = json.replace(r#""requests": true"#, r#""requests": true, "requests_from": ["nobody"]"#);
    assert_eq!(rejected(&unknown).0, "observe.requests_from[0]");
}

/// `observe.client_log`: the client's warning when an answer is older than its cache (here a
/// push from s2, whose clock lags 10 s) and its failover switch lines.
#[test]
fn client_log_words_lines_as_the_java_client_does() {
    let sc = scenario::load("scenarios/incidents/client-out-of-date-data-clock-skew.json").unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    assert_eq!(
        lines(&w, &["client_log"]),
        [
            r#"{"t_ms":4102.053,"node":"consumer","kind":"client_log","level":"WARN","message":"out of date data received, old-t: 0, new-t: -5899"}"#
        ]
    );
    let json = r#"{ "name": "fo", "seed": 1, "duration": "20s", "servers": [{ "id": "s1" }],
        "observe": { "client_log": true },
        "clients": [{ "id": "c", "failover": [{ "at": "3s", "on": true }, { "at": "11s", "on": false }] }] }"#;
    let logs: Vec<String> =
        observed(json, &["client_log"]).iter().map(|l| l[l.find("\"level\"").unwrap()..].to_string()).collect();
    assert_eq!(
        logs,
        [r#""level":"INFO","message":"failover-mode is on"}"#, r#""level":"INFO","message":"failover-mode is off"}"#]
    );
}

/// s3 may not open connections to s1 from 10 s (a stateful firewall), `fault` says how. `(time,
/// node, member, to)` of every member state change.
fn firewalled(fault: &str) -> Vec<(i64, String, String)> {
    let json = format!(
        r#"{{ "name": "fw", "seed": 1, "duration": "30s",
             "servers": [{{ "id": "s1" }}, {{ "id": "s2" }}, {{ "id": "s3" }}], "faults": [{fault}] }}"#
    );
    let sc = scenario::parse("inline.json", &json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    let records = w.engine.records.iter().filter(|r| r.obs.kind() == "member_state_changed");
    records
        .map(|r| {
            let v = serde_json::to_value(&r.obs).unwrap();
            let who = format!("{}: {}", w.names[r.node as usize], v["member"].as_str().unwrap());
            (r.at.as_millis(), who, v["to"].as_str().unwrap().to_string())
        })
        .collect()
}

/// A one-way connection firewall is not a one-way cut cable. With `connections_only`, s3's
/// probes of s1 time out (SUSPICIOUS 5 s after each), but s1's reports to s3 still get through
/// on connections s1 opens, and each one makes s1 UP again on s3: s3 flaps, s1 never notices.
/// The packet cut from s3 to s1 also kills the answers to s1's reports, so both sides see the
/// other fail, and DOWN after the fourth failure. A REJECT rule refuses s3's probes at once:
/// DOWN one round trip after each, UP again at s1's next report.
#[test]
fn connection_firewalls_differ_from_cut_links() {
    let changes =
        |v: &[(i64, &str, &str)]| v.iter().map(|(t, n, s)| (*t, n.to_string(), s.to_string())).collect::<Vec<_>>();
    let s1_on_s3 = "s3: 10.0.0.1:8848";
    let got =
        firewalled(r#"{ "kind": "partition", "from": ["s3"], "to": ["s1"], "at": "10s", "connections_only": true }"#);
    assert_eq!(
        got,
        changes(&[
            (16_000, s1_on_s3, "SUSPICIOUS"),
            (17_001, s1_on_s3, "UP"),
            (20_000, s1_on_s3, "SUSPICIOUS"),
            (21_001, s1_on_s3, "UP"),
            (24_000, s1_on_s3, "SUSPICIOUS"),
            (25_001, s1_on_s3, "UP"),
            (28_000, s1_on_s3, "SUSPICIOUS"),
            (29_001, s1_on_s3, "UP"),
        ])
    );
    let got = firewalled(r#"{ "kind": "partition", "from": ["s3"], "to": ["s1"], "at": "10s" }"#);
    let s3_on_s1 = "s1: 10.0.0.3:8848";
    assert_eq!(
        got,
        changes(&[
            (16_000, s1_on_s3, "SUSPICIOUS"),
            (18_000, s3_on_s1, "SUSPICIOUS"),
            (28_000, s1_on_s3, "DOWN"),
            (30_000, s3_on_s1, "DOWN"),
        ])
    );
    let got = firewalled(r#"{ "kind": "reject", "from": ["s3"], "to": ["s1"], "at": "10s", "for": "10s" }"#);
    assert_eq!(
        got,
        changes(&[
            (11_002, s1_on_s3, "DOWN"),
            (13_001, s1_on_s3, "UP"),
            (15_002, s1_on_s3, "DOWN"),
            (17_001, s1_on_s3, "UP"),
            (19_002, s1_on_s3, "DOWN"),
            (21_001, s1_on_s3, "UP"),
        ])
    );
}

/// `register_many.persistent_per_service`: each service's last instances are persistent; more
/// than `per_service` is refused.
#[test]
fn register_many_can_make_some_instances_persistent() {
    let file = |n: u32| {
        format!(
            r#"{{ "name": "p", "seed": 1, "duration": "10s", "switches": {{ "server_version": "1.3.2" }},
                 "servers": [{{ "id": "s1" }}],
                 "clients": [{{ "id": "app", "register_many": {{ "at": "1s", "services": 2, "per_service": 3, "persistent_per_service": {n} }} }}] }}"#
        )
    };
    let w = {
        let sc = scenario::parse("p.json", &file(1)).unwrap();
        let mut w = world::build(&sc, sc.seed);
        w.run_until(w.duration);
        w
    };
    let applied = lines(&w, &["raft_publish_applied"]);
    let lists = applied.iter().filter(|l| l.contains("naming.iplist.public")).count();
    assert_eq!(lists, 2, "one persistent instance per service: {applied:?}");
    let (path, _) = rejected(&file(4));
    assert_eq!(path, "clients[0].register_many.persistent_per_service");
}

/// `boot_at` may be drawn per seed: s2 starts (its snapshot load begins) at a time in [1 s, 3 s]
/// that differs between seeds, and the draw comes from a stream of its own, so the fault time
/// drawn by the workload stream is the same whether or not s2's boot is drawn.
#[test]
fn a_server_can_boot_at_a_random_time() {
    let scenario = |boot: &str| {
        format!(
            r#"{{ "name": "boot", "seed": 1, "duration": "20s",
                 "servers": [{{ "id": "s1" }}, {{ "id": "s2", "boot_at": {boot} }}],
                 "faults": [{{ "kind": "pause", "node": "s1", "at": {{ "uniform": ["5s", "9s"] }}, "for": "1s" }}] }}"#
        )
    };
    let run = |boot: &str, seed: u64| {
        let sc = scenario::parse("boot.json", &scenario(boot)).unwrap_or_else(|e| panic!("{e}"));
        let mut w = world::build(&sc, seed);
        w.run_until(w.duration);
        let start = w
            .engine
            .records
            .iter()
            .find(|r| w.names[r.node as usize] == "s2" && r.obs.kind() == "snapshot_load_started");
        (start.expect("s2 starts").at, w.fault_times[0])
    };
    let drawn = r#"{ "uniform": ["1s", "3s"] }"#;
    let (a, fault_a) = run(drawn, 1);
    let (b, _) = run(drawn, 2);
    let ms = |t: nacos_sim::time::Time| t.0 as f64 / 1e6;
    assert!(ms(a) >= 1000.0 && ms(a) <= 3000.0 && ms(b) >= 1000.0 && ms(b) <= 3000.0, "{a} {b}");
    assert_ne!(a, b, "drawn per seed");
    let (fixed, fault_fixed) = run(r#""2s""#, 1);
    assert_eq!(ms(fixed), 2000.0);
    assert_eq!(fault_a, fault_fixed, "the workload's draws do not move");
    let e = scenario::parse("boot.json", &scenario(r#"{ "uniform": ["1s", "30s"] }"#)).unwrap_err();
    assert_eq!(e.path, "servers[1].boot_at");
}

#[test]
fn update_service_sets_the_protect_threshold_and_refuses_an_unknown_service() {
    // One server, two providers; p2 dies at 20 s and is unhealthy at 36.001 s. With the
    // threshold set to 0.6 at 10 s, 1 of 2 healthy (0.5) is protected: lists return both as
    // healthy. (With the default 0, 0 of 1 healthy is protected too: `<=`, R1.32.)
    let run = |ops: &str, expect: &str| {
        outcomes(&format!(
            r#"{{ "name": "t", "seed": 1, "duration": "60s", "servers": [{{ "id": "s1" }}],
              "clients": [
                {{ "id": "p1", "register": [{{ "at": "1s", "service": "demo", "port": 8080 }}] }},
                {{ "id": "p2", "register": [{{ "at": "1s", "service": "demo", "port": 8081 }}] }},
                {{ "id": "consumer", "subscribe": [{{ "at": "2s", "service": "demo" }}] }}
              ],
              "faults": [{{ "kind": "crash", "node": "p2", "at": "20s" }}],
              "operations": [{ops}],
              "expect": [{expect}] }}"#
        ))
    };
    let ops = r#"{ "op": "update_service", "at": "10s", "via": "s1", "service": "demo", "protect_threshold": 0.6 },
                 { "op": "update_service", "at": "11s", "via": "s1", "service": "nothing", "protect_threshold": 0.6 }"#;
    let expect = r#"
      { "observation": "operation_answered", "node": "s1", "where": { "op": "update_service", "status": 200 }, "within": ["10s", "10.01s"], "count": [1, 1] },
      { "observation": "operation_answered", "node": "s1", "where": { "status": 400, "body": "caused: service DEFAULT_GROUP@@nothing not found!;" }, "within": ["11s", "11.01s"], "count": [1, 1] },
      { "observation": "instance_unhealthy", "node": "s1", "where": { "port": 8081 }, "within": ["36s", "36.002s"], "first": true },
      { "observation": "subscriber_view_changed", "node": "consumer", "view_has": { "port": 8081, "healthy": false }, "never": true }"#;
    for o in run(ops, expect) {
        assert!(o.ok, "expect[{}]: {}", o.index, o.message);
    }
    let unprotected = run(
        "",
        r#"{ "observation": "subscriber_view_changed", "node": "consumer", "view_has": { "port": 8081, "healthy": false }, "within": ["36s", "38s"], "first": true }"#,
    );
    assert!(unprotected[0].ok, "{}", unprotected[0].message);
}

/// `set_switch` without `debug` writes the cluster's `SwitchDomain` through the CP store and
/// every server applies it; with `debug` only the server asked changes. Three servers (1.4.1,
/// JRaft); demo is s2's; the operator asks s1 to turn health checks off at 20 s and the
/// provider dies at 30 s.
#[test]
fn a_switch_without_debug_reaches_every_server_through_the_cp_store() {
    let run = |debug: bool| {
        let json = format!(
            r#"{{ "name": "t", "seed": 1, "duration": "70s",
              "servers": [{{ "id": "s1" }}, {{ "id": "s2" }}, {{ "id": "s3" }}],
              "clients": [{{ "id": "provider", "register": [{{ "at": "1s", "service": "demo", "port": 8080 }}] }}],
              "faults": [{{ "kind": "crash", "node": "provider", "at": "30s" }}],
              "operations": [{{ "op": "set_switch", "at": "20s", "via": "s1", "entry": "check", "value": false, "debug": {debug} }}],
              "expect": [
                {{ "observation": "operation_answered", "node": "s1", "where": {{ "op": "set_switch", "status": 200 }}, "within": ["20s", "21s"], "first": true }},
                {{ "observation": "instance_unhealthy", "where": {{ "port": 8080 }}, "never": true }}
              ] }}"#
        );
        outcomes(&json)
    };
    let cp = run(false);
    assert!(cp.iter().all(|o| o.ok), "{:?}", cp.iter().map(|o| &o.message).collect::<Vec<_>>());
    // In debug mode s2, which owns demo, still checks beats.
    let debug = run(true);
    assert!(debug[0].ok, "{}", debug[0].message);
    assert!(!debug[1].ok, "{}", debug[1].message);
}

/// `update_service` sets the service's metadata, which `doSrvIpxt` returns with every list of
/// the service (and every push, the same JSON); an update without metadata clears it
/// (`parseMetadata("")`). Three servers (1.4.1, JRaft, leader s3); the console is on s1, s2
/// applies each write 504 ms after the operation and the consumer polls s2 every 10 s.
#[test]
fn update_service_metadata_is_in_every_answer_of_the_service() {
    let json = r#"{ "name": "t", "seed": 1, "duration": "40s", "observe": { "requests": true },
      "servers": [{ "id": "s1" }, { "id": "s2" }, { "id": "s3" }],
      "clients": [
        { "id": "provider", "register": [{ "at": "1s", "service": "demo", "port": 8080 }] },
        { "id": "consumer", "servers": ["s2"], "subscribe": [{ "at": "2s", "service": "demo" }] }
      ],
      "operations": [
        { "op": "update_service", "at": "10s", "via": "s1", "service": "demo", "protect_threshold": 0, "metadata": { "team": "pay" } },
        { "op": "update_service", "at": "25s", "via": "s1", "service": "demo", "protect_threshold": 0 }
      ],
      "expect": [
        { "observation": "raft_publish_applied", "node": "s2", "where": { "key": { "contains": "meta.public##DEFAULT_GROUP@@demo" } }, "within": ["10.504s", "10.504s"], "count": [1, 1] },
        { "observation": "request_answered", "node": "s2", "where": { "api": { "contains": "/instance/list" }, "metadata": {} }, "within": ["3.003s", "3.003s"], "count": [1, 1] },
        { "observation": "request_answered", "node": "s2", "where": { "api": { "contains": "/instance/list" }, "metadata": { "team": "pay" } }, "within": ["13.005s", "13.005s"], "count": [1, 1] },
        { "observation": "request_answered", "node": "s2", "where": { "api": { "contains": "/instance/list" }, "metadata": { "team": "pay" } }, "within": ["23.007s", "23.007s"], "count": [1, 1] },
        { "observation": "request_answered", "node": "s2", "where": { "api": { "contains": "/instance/list" }, "metadata": {} }, "within": ["33.009s", "33.009s"], "count": [1, 1] },
        { "observation": "request_answered", "where": { "metadata": { "team": "pay" } }, "within": ["25.504s", "40s"], "never": true }
      ] }"#;
    for o in outcomes(json) {
        assert!(o.ok, "expect[{}]: {}", o.index, o.message);
    }
}
