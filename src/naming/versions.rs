//! Nacos releases as data (`../shared/spec/versions.md`): a server release string selects, in
//! this one place, the bundle of behaviours the cores switch on; the cores ask for a flag and
//! never compare version strings. Each flag names the row of `versions.md` it models.
//!
//! Modelled so far: the Distro sync pipeline (V1–V3), the membership that decides who is
//! healthy (V4, V5, V7), the 1.3.0 mapper (V8), the stuck failure count (V9), the member
//! re-read (V10), `Service.onDelete` (V11), the check-task / Service init race (V12),
//! `locateInstance` (V13) and the 1.4 stop of the legacy Raft (V15; the JRaft that replaces it
//! is not modelled). V14 (data warm-up and the server status) runs as 1.4.x has it in every
//! release.

/// How a server replicates a local change to its peers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncPipeline {
    /// V3, 1.4.0 and later: `DistroProtocol` with the two-stage delay-task engine (spec §5.C).
    DelayEngine,
    /// V1–V2, up to 1.3.x: `TaskDispatcher` / `DataSyncer` (spec §5.I), flushing with this
    /// `taskDispatchPeriod`: 200 ms up to 1.1.x, 2000 ms in 1.2.x–1.3.x.
    TaskDispatcher { period_ms: i64 },
}

/// What decides the members the `DistroMapper` hashes over.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    /// V5, up to 1.2.x: `ServerListManager` status beats every 2 s, alive while the last one is
    /// under 10 s old; list changes switch health checks off (V6, R5.33).
    ServerListManager,
    /// V7, 1.3.0 and later: `ServerMemberManager` probes, UP / SUSPICIOUS / DOWN (spec §6).
    MemberProbes,
}

/// How `ServerListManager` (up to 1.2.x) decides that a peer is alive.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServerListTiming {
    /// `serverStatusSynchronizationPeriodMillis`: 15 s up to 1.1.3, 2 s from 1.1.4.
    pub period_ms: i64,
    /// `distroServerExpiredMillis`: 30 s up to 1.1.3, 10 s from 1.1.4.
    pub expired_ms: i64,
    /// V4, up to 1.1.0: a peer's last beat is the time the SENDER wrote into it, so a peer
    /// whose clock lags by more than the expiry is never alive; from 1.1.3 the receiver's own
    /// arrival time (e259dc34, #1529).
    pub sender_clock: bool,
}

/// The version-dependent behaviour of a naming server.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServerBehaviour {
    pub sync: SyncPipeline,
    pub membership: Membership,
    /// The timing of `ServerListManager`, when it is the membership.
    pub server_list: ServerListTiming,
    /// V8, 1.3.0 only: the `DistroMapper` hashes over every member whatever its state, so a
    /// dead member keeps its share of services (1.3.1 filters out DOWN members).
    pub mapper_keeps_down_members: bool,
    /// V9, 1.3.1–1.4.0: `MemberUtils.onFail` counts on a copy whose count `update` never stores,
    /// so the count never passes 1 and a member whose probes time out stays SUSPICIOUS for
    /// ever; only "connection refused" still makes it DOWN (fixed by #4371 in 1.4.1).
    pub member_fail_count_stuck: bool,
    /// What-if fix `issue-7697` (commit c45762ed, in no 1.x release): a verification key whose
    /// checksum equals the local one refreshes the `lastBeat` of the key's healthy instances,
    /// so a new owner does not expire live instances after a membership change (R2.17).
    pub refresh_last_beat_on_equal_checksum: bool,
    /// What-if fix `pr-8437` (closed unmerged): `DistroVerifyTask` starts only once the
    /// snapshot load has finished, 5 s after it, instead of 5 s after start.
    pub verify_after_load: bool,
    /// What-if fix `issue-10323` (commit 23c45da6, in no 1.x release): `onReceiveChecksums`
    /// takes the DistroMapper's healthy list when it starts and removes no key if the list
    /// changed while it compared, since keys it found unlisted were mapped by a newer view
    /// than the source's.
    pub keep_keys_on_list_change: bool,
    /// V11, 1.4.2 and later: `Service.onDelete` empties the service's clusters when Distro
    /// removes a datum; up to 1.4.1 it does nothing and the instances stay served (R1.28).
    pub service_on_delete_removes: bool,
    /// V10, 1.3.0–1.4.1: `ServerMemberManager.memberChange` replaces every member with the
    /// one just read from `cluster.conf`, in its default state UP with no failures counted;
    /// the address set is unchanged, so no `MembersChangeEvent` reaches the DistroMapper until
    /// the next probe changes a state (#4925, fixed by #4948 in 1.4.2: states are kept).
    pub member_reread_resets_state: bool,
    /// V12, up to 1.4.1: `ServiceManager.putService` uses `put` and `HealthCheckReactor`
    /// schedules a `ClientBeatCheckTask` before `putIfAbsent` keeps the first one, so two first
    /// registrations of a service racing through `createServiceIfAbsent` leave two Service
    /// objects, each with a running task, and destroying the one in the map cancels the
    /// other's (1.4.2: `putIfAbsent` and `computeIfAbsent`, one Service and one task).
    pub service_init_race: bool,
    /// From 1.4.0: PUT / DELETE `/instance/metadata/batch` exist (404 before).
    pub metadata_batch_api: bool,
    /// V13, up to 1.4.1: `ServiceManager.locateInstance` searches the datum's own instance
    /// list with `indexOf` (equal ip, port and ephemeral) and removes each match of another
    /// cluster before it finds the wanted one, so those instances leave the datum.
    pub locate_instance_removes_others: bool,
    /// V15, from 1.4.0: `ClusterVersionJudgement` stops the legacy Raft once every member has
    /// reported a 1.4 version (R7.21); up to 1.3.x it runs for ever.
    pub legacy_raft_stops_at_1_4: bool,
}

impl Default for ServerBehaviour {
    /// 1.4.1, the release the spec describes.
    fn default() -> Self {
        server_release("1.4.1").expect("1.4.1 is modelled").behaviour
    }
}

/// A server release as parsed: what it was asked as, the range it is modelled by, and its
/// behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRelease {
    pub version: String,
    /// The releases that share this behaviour, e.g. `"1.3.0–1.3.2"`.
    pub range: &'static str,
    pub behaviour: ServerBehaviour,
}

/// The releases `switches.server_version` names in the documentation and tests; any other
/// `1.x.y` from 1.0.0 to 1.4.8 is modelled by its range too.
pub const NAMED_SERVER_RELEASES: &[&str] = &["1.1.0", "1.1.4", "1.2.1", "1.3.0", "1.3.2", "1.4.0", "1.4.1", "1.4.2"];

/// The behaviour of every modelled range, one row per behaviour (its `versions.md` row and
/// what it is) and one column per range, for `nacos-sim versions`.
pub fn table() -> String {
    fn yes(b: bool) -> String {
        if b { "yes" } else { "no" }.to_string()
    }
    type Row = (&'static str, fn(&ServerBehaviour) -> String);
    let rows: &[Row] = &[
        ("V1-V3 Distro sync", |b| match b.sync {
            SyncPipeline::DelayEngine => "delay engine".into(),
            SyncPipeline::TaskDispatcher { period_ms } => format!("TaskDispatcher {period_ms} ms"),
        }),
        ("V5/V7 membership", |b| match b.membership {
            Membership::ServerListManager => {
                format!("status beats {} s / {} s", b.server_list.period_ms / 1000, b.server_list.expired_ms / 1000)
            }
            Membership::MemberProbes => "member probes".into(),
        }),
        ("V4 peer alive by sender's clock", |b| {
            yes(b.membership == Membership::ServerListManager && b.server_list.sender_clock)
        }),
        ("V8 mapper keeps DOWN members", |b| yes(b.mapper_keeps_down_members)),
        ("V9 failure count stuck at 1", |b| yes(b.member_fail_count_stuck)),
        ("V10 re-read resets member states", |b| yes(b.member_reread_resets_state)),
        ("V11 Service.onDelete removes", |b| yes(b.service_on_delete_removes)),
        ("V12 racing inits: two Services, two tasks", |b| yes(b.service_init_race)),
        ("V13 locateInstance drops others", |b| yes(b.locate_instance_removes_others)),
        ("V15 legacy Raft stops at 1.4", |b| yes(b.legacy_raft_stops_at_1_4)),
        ("metadata batch API", |b| yes(b.metadata_batch_api)),
    ];
    let mut out = String::from("| behaviour |");
    for (_, _, label, _) in RANGES {
        out += &format!(" {label} |");
    }
    out += "\n|---|";
    out += &"---|".repeat(RANGES.len());
    for (name, value) in rows {
        out += &format!("\n| {name} |");
        for (_, _, _, b) in RANGES {
            out += &format!(" {} |", value(b));
        }
    }
    out
}

/// A release number, `(major, minor, patch)`.
type Release = (u32, u32, u32);

/// The behaviour ranges: (first, last, label, behaviour).
const RANGES: &[(Release, Release, &str, ServerBehaviour)] = &[
    ((1, 0, 0), (1, 1, 2), "1.0.0–1.1.2", B_1_1_0),
    ((1, 1, 3), (1, 1, 3), "1.1.3", B_1_1_3),
    ((1, 1, 4), (1, 1, 99), "1.1.4–1.1.x", B_1_1),
    ((1, 2, 0), (1, 2, 99), "1.2.0–1.2.x", B_1_2),
    ((1, 3, 0), (1, 3, 0), "1.3.0", B_1_3_0),
    ((1, 3, 1), (1, 3, 99), "1.3.1–1.3.x", B_1_3),
    ((1, 4, 0), (1, 4, 0), "1.4.0", B_1_4_0),
    ((1, 4, 1), (1, 4, 1), "1.4.1", B_1_4),
    ((1, 4, 2), (1, 4, 8), "1.4.2–1.4.8", B_1_4_2),
];

const B_1_1: ServerBehaviour = ServerBehaviour {
    sync: SyncPipeline::TaskDispatcher { period_ms: 200 },
    membership: Membership::ServerListManager,
    server_list: ServerListTiming { period_ms: 2000, expired_ms: 10_000, sender_clock: false },
    mapper_keeps_down_members: false,
    member_fail_count_stuck: false,
    refresh_last_beat_on_equal_checksum: false,
    verify_after_load: false,
    keep_keys_on_list_change: false,
    service_on_delete_removes: false,
    service_init_race: true,
    member_reread_resets_state: false,
    metadata_batch_api: false,
    locate_instance_removes_others: true,
    legacy_raft_stops_at_1_4: false,
};
const B_1_1_3: ServerBehaviour = ServerBehaviour {
    server_list: ServerListTiming { period_ms: 15_000, expired_ms: 30_000, sender_clock: false },
    ..B_1_1
};
const B_1_1_0: ServerBehaviour = ServerBehaviour {
    server_list: ServerListTiming { period_ms: 15_000, expired_ms: 30_000, sender_clock: true },
    ..B_1_1
};
const B_1_2: ServerBehaviour = ServerBehaviour { sync: SyncPipeline::TaskDispatcher { period_ms: 2000 }, ..B_1_1 };
const B_1_3_0: ServerBehaviour = ServerBehaviour {
    membership: Membership::MemberProbes,
    mapper_keeps_down_members: true,
    member_reread_resets_state: true,
    ..B_1_2
};
const B_1_3: ServerBehaviour =
    ServerBehaviour { mapper_keeps_down_members: false, member_fail_count_stuck: true, ..B_1_3_0 };
const B_1_4_0: ServerBehaviour = ServerBehaviour {
    sync: SyncPipeline::DelayEngine,
    metadata_batch_api: true,
    legacy_raft_stops_at_1_4: true,
    ..B_1_3
};
const B_1_4: ServerBehaviour = ServerBehaviour { member_fail_count_stuck: false, ..B_1_4_0 };
const B_1_4_2: ServerBehaviour = ServerBehaviour {
    service_on_delete_removes: true,
    service_init_race: false,
    member_reread_resets_state: false,
    locate_instance_removes_others: false,
    ..B_1_4
};

/// Parses `1.x.y` (a suffix such as `-BETA` is ignored) into its modelled release.
pub fn server_release(version: &str) -> Result<ServerRelease, String> {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<Option<u32>> = core.split('.').map(|p| p.parse().ok()).collect();
    let v = match parts[..] {
        [Some(a), Some(b), Some(c)] => (a, b, c),
        _ => return Err(format!("expected a release like \"1.4.1\", found \"{version}\"")),
    };
    RANGES
        .iter()
        .find(|(first, last, ..)| *first <= v && v <= *last)
        .map(|&(_, _, range, behaviour)| ServerRelease { version: version.to_string(), range, behaviour })
        .ok_or_else(|| {
            format!(
                "Nacos {version} is not a modelled 1.x release; from 1.0.0 to 1.4.8, e.g. {NAMED_SERVER_RELEASES:?}"
            )
        })
}

/// A fix Nacos made later or never released, applied on top of a release (`switches.fixes`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// `issue-7697`: lastBeat refreshed on equal checksums (commit c45762ed).
    Issue7697,
    /// `pr-8437`: Distro verification only after the snapshot load.
    Pr8437,
    /// `issue-10323`: no key removed by a verification during which the healthy list changed
    /// (commit 23c45da6).
    Issue10323,
}

impl Fix {
    /// Every fix, by the name scenario files use.
    pub const ALL: &'static [(&'static str, Fix)] =
        &[("issue-7697", Fix::Issue7697), ("pr-8437", Fix::Pr8437), ("issue-10323", Fix::Issue10323)];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| n)
    }

    /// Turns the fix on. Returns false if `b` already behaves so (the release contains it);
    /// no 1.x release contains either of these.
    pub fn apply(self, b: &mut ServerBehaviour) -> bool {
        let flag = match self {
            Fix::Issue7697 => &mut b.refresh_last_beat_on_equal_checksum,
            Fix::Pr8437 => &mut b.verify_after_load,
            Fix::Issue10323 => &mut b.keep_keys_on_list_change,
        };
        !std::mem::replace(flag, true)
    }
}

/// The version-dependent behaviour of the Java client (`nacos-client`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ClientBehaviour {
    /// C1, from 1.2.0: light beats once the server says `lightBeatEnabled`, and re-registration
    /// on code 20404. Older clients send the full beat every period and never re-register; the
    /// server re-creates the instance from the beat body.
    pub light_beats_and_reregister: bool,
    /// C2, up to 1.4.1: an exception other than `NacosException` in `BeatTask` (a reply that
    /// does not parse) is not caught, and the task is never rescheduled.
    pub beat_task_dies_on_error: bool,
    /// C3, from 1.4.4: `unSubscribe` of the last listener takes the key out of `futureMap`, so
    /// the `UpdateTask` stops after its next run and drops the cached service; before, the
    /// task polls for ever and pushes keep being acked.
    pub unsubscribe_stops_polling: bool,
}

/// The client behaviour of a `major.minor.patch` client version (parts that do not parse count
/// as 0, as a lenient reader of `Nacos-Java-Client:vX` would).
pub fn client_behaviour(version: &str) -> ClientBehaviour {
    let mut parts =
        version.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse().unwrap_or(0));
    let v: (u32, u32, u32) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    ClientBehaviour {
        light_beats_and_reregister: v >= (1, 2, 0),
        beat_task_dies_on_error: v <= (1, 4, 1),
        unsubscribe_stops_polling: v >= (1, 4, 4),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_has_a_column_per_range_and_says_what_each_does() {
        let t = super::table();
        let lines: Vec<&str> = t.lines().collect();
        let cells = |row: &str| -> Vec<String> {
            let line = lines.iter().find(|l| l.starts_with(&format!("| {row} |"))).expect("a row");
            line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
        };
        let header = cells("behaviour");
        assert_eq!(header.len(), super::RANGES.len() + 1);
        let column = |label: &str| header.iter().position(|h| h == label).expect("a column");
        let v8 = cells("V8 mapper keeps DOWN members");
        assert_eq!(v8[column("1.3.0")], "yes");
        assert_eq!(v8[column("1.3.1–1.3.x")], "no");
        assert_eq!(cells("V9 failure count stuck at 1")[column("1.4.1")], "no");
        assert_eq!(cells("V1-V3 Distro sync")[column("1.2.0–1.2.x")], "TaskDispatcher 2000 ms");
        let v12 = cells("V12 racing inits: two Services, two tasks");
        assert_eq!((&*v12[column("1.4.1")], &*v12[column("1.4.2–1.4.8")]), ("yes", "no"));
    }

    use super::*;

    #[test]
    fn each_release_selects_its_bundle() {
        let b = |v: &str| server_release(v).unwrap().behaviour;
        assert_eq!(b("1.1.0").sync, SyncPipeline::TaskDispatcher { period_ms: 200 });
        assert_eq!(b("1.1.4").membership, Membership::ServerListManager);
        assert_eq!(b("1.2.1").sync, SyncPipeline::TaskDispatcher { period_ms: 2000 });
        assert_eq!(b("1.2.1").membership, Membership::ServerListManager);
        assert!(b("1.1.0").server_list.sender_clock && !b("1.1.3").server_list.sender_clock);
        assert_eq!(b("1.1.3").server_list.period_ms, 15_000);
        assert_eq!((b("1.1.4").server_list.period_ms, b("1.1.4").server_list.expired_ms), (2000, 10_000));
        assert_eq!(b("1.3.0").membership, Membership::MemberProbes);
        assert_eq!(b("1.3.2").sync, SyncPipeline::TaskDispatcher { period_ms: 2000 });
        assert_eq!(b("1.4.0").sync, SyncPipeline::DelayEngine);
        assert!(!b("1.4.1").service_on_delete_removes);
        assert!(b("1.4.2").service_on_delete_removes && b("1.4.8").service_on_delete_removes);
        assert_eq!(b("1.4.0-BETA"), b("1.4.0"));
        assert_eq!(ServerBehaviour::default(), b("1.4.1"));
        assert_eq!(server_release("1.3.1").unwrap().range, "1.3.1–1.3.x");
        assert!(b("1.3.0").mapper_keeps_down_members && !b("1.3.1").mapper_keeps_down_members);
        assert!(!b("1.3.0").member_fail_count_stuck && b("1.3.2").member_fail_count_stuck);
        assert!(b("1.4.0").member_fail_count_stuck && !b("1.4.1").member_fail_count_stuck);
        for v in NAMED_SERVER_RELEASES {
            server_release(v).unwrap();
        }
        for bad in ["2.0.0", "1.5.0", "0.9.0", "1.4", "latest", ""] {
            assert!(server_release(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_versions_select_beats_and_the_beat_task_death() {
        let c = client_behaviour;
        assert!(!c("1.1.4").light_beats_and_reregister && c("1.2.0").light_beats_and_reregister);
        assert!(c("1.4.1").beat_task_dies_on_error && !c("1.4.2").beat_task_dies_on_error);
        assert!(c("v1.4.1").beat_task_dies_on_error && c("1.4.1-SNAPSHOT").beat_task_dies_on_error);
    }
}
