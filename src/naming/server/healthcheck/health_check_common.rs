//! `HealthCheckCommon` and `HealthCheckStatus` (spec R8.6–R8.7): three successes or three
//! failures in a row flip an instance's health, a refused connection at once, and only on
//! the server responsible for the service; elsewhere only `mockValid` moves.

use crate::naming::server::registry::InstanceRef;

/// `SwitchDomain.checkTimes`.
pub const CHECK_TIMES: u32 = 3;

/// An instance's probe counters (`HealthCheckStatus`, kept by address so they outlive the
/// Instance objects a datum replaces) and its `mockValid`, which belongs to the object: a new
/// object starts not valid.
#[derive(Debug, Default)]
pub struct CheckStatus {
    pub ok: u32,
    pub fail: u32,
    /// `isBeingChecked`: a probe is in flight.
    pub checking: bool,
    /// The object `mockValid` was set on.
    valid: Option<InstanceRef>,
}

/// What a probe result does to the instance's health.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Unchanged,
    /// Healthy (again), or confirmed: set healthy and push.
    Healthy,
    Unhealthy,
}

impl CheckStatus {
    fn mock_valid(&self, i: &InstanceRef) -> bool {
        self.valid.as_ref().is_some_and(|v| std::rc::Rc::ptr_eq(v, i))
    }

    fn set_mock_valid(&mut self, i: &InstanceRef, valid: bool) {
        self.valid = valid.then(|| i.clone());
    }

    /// `checkOK`. `responsible`: health checks on, the task live, this server responsible.
    pub fn check_ok(&mut self, i: &InstanceRef, responsible: bool) -> Verdict {
        let mut verdict = Verdict::Unchanged;
        if !i.healthy.get() || !self.mock_valid(i) {
            self.ok += 1;
            if self.ok >= CHECK_TIMES {
                if responsible {
                    verdict = Verdict::Healthy;
                }
                self.set_mock_valid(i, true);
            }
        }
        self.fail = 0;
        self.checking = false;
        verdict
    }

    /// `checkFail`: a timeout or an error.
    pub fn check_fail(&mut self, i: &InstanceRef, responsible: bool) -> Verdict {
        let mut verdict = Verdict::Unchanged;
        if i.healthy.get() || self.mock_valid(i) {
            self.fail += 1;
            if self.fail >= CHECK_TIMES && responsible {
                self.set_mock_valid(i, false);
                verdict = Verdict::Unhealthy;
            }
        }
        self.ok = 0;
        self.checking = false;
        verdict
    }

    /// `checkFailNow`: connection refused.
    pub fn check_fail_now(&mut self, i: &InstanceRef, responsible: bool) -> Verdict {
        let mut verdict = Verdict::Unchanged;
        if i.healthy.get() || self.mock_valid(i) {
            if responsible {
                verdict = Verdict::Unhealthy;
            }
            self.set_mock_valid(i, false);
        }
        self.ok = 0;
        self.checking = false;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::server::registry::inst;
    use std::rc::Rc;

    #[test]
    fn three_in_a_row_flip_health_and_a_refusal_flips_it_at_once() {
        let i = Rc::new(inst("10.0.0.9", 3306, true));
        let mut s = CheckStatus::default();
        assert_eq!(s.check_fail(&i, true), Verdict::Unchanged);
        assert_eq!(s.check_fail(&i, true), Verdict::Unchanged);
        assert_eq!(s.check_fail(&i, true), Verdict::Unhealthy, "the third timeout");
        i.healthy.set(false);
        assert_eq!(s.check_ok(&i, true), Verdict::Unchanged);
        assert_eq!(s.check_ok(&i, true), Verdict::Unchanged);
        assert_eq!(s.check_ok(&i, true), Verdict::Healthy, "the third success");
        i.healthy.set(true);
        assert_eq!(s.check_ok(&i, true), Verdict::Unchanged, "healthy and valid: nothing counts");
        assert_eq!(s.check_fail_now(&i, true), Verdict::Unhealthy, "refused: at once");
    }

    /// A fresh Instance object (a datum applied) is not mockValid: a healthy instance takes
    /// three successes to be confirmed again, and off the responsible server nothing flips.
    #[test]
    fn mock_valid_belongs_to_the_object() {
        let i = Rc::new(inst("10.0.0.9", 3306, true));
        let mut s = CheckStatus::default();
        for _ in 0..3 {
            s.check_ok(&i, true);
        }
        let fresh = Rc::new(inst("10.0.0.9", 3306, true));
        assert_eq!(s.check_ok(&fresh, true), Verdict::Healthy, "ok count kept, object not valid");
        assert_eq!(s.check_fail_now(&fresh, false), Verdict::Unchanged, "not responsible");
    }
}
