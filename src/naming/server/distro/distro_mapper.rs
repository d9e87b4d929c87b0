//! `DistroMapper` (spec R5.1–R5.5): which server is responsible for a service name, from this
//! server's own view of the healthy members.

use crate::naming::wire::Str;

/// Java `String.hashCode` over UTF-16 code units.
pub fn java_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32))
}

/// `distroHash` (R5.2): `abs(String.hashCode() % Integer.MAX_VALUE)` with Java semantics.
pub fn distro_hash(name: &str) -> u32 {
    (java_hash_code(name) % i32::MAX).unsigned_abs()
}

/// `DistroMapper` (R5.1–R5.5): who is responsible for a service name.
pub struct DistroMapper {
    /// Sorted addresses of UP and SUSPICIOUS members (all members at init).
    pub healthy: Vec<Str>,
    pub local: Str,
    pub standalone: bool,
    pub distro_enabled: bool,
}

impl DistroMapper {
    /// Inline, so a standalone server decides without reading the name (every beat asks,
    /// and the name's place in a request is often not cached yet).
    #[inline]
    pub fn responsible(&self, name: &str) -> bool {
        !self.distro_enabled || self.standalone || self.responsible_in_cluster(name)
    }

    fn responsible_in_cluster(&self, name: &str) -> bool {
        if self.healthy.is_empty() {
            return false;
        }
        let (Some(index), Some(last)) =
            (self.healthy.iter().position(|a| *a == self.local), self.healthy.iter().rposition(|a| *a == self.local))
        else {
            return true;
        };
        let target = distro_hash(name) as usize % self.healthy.len();
        index <= target && target <= last
    }

    pub fn map_srv(&self, name: &str) -> Str {
        if self.healthy.is_empty() || !self.distro_enabled {
            return self.local.clone();
        }
        self.healthy[distro_hash(name) as usize % self.healthy.len()].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's examples, verified with a JVM (R5.2).
    #[test]
    fn distro_hash_matches_java() {
        assert_eq!(distro_hash("com.taobao.service"), 915148290);
        assert_eq!(distro_hash("DEFAULT_GROUP@@test-service"), 1531823483);
        assert_eq!(distro_hash("DEFAULT_GROUP@@nacos.test.1"), 301437168);
    }

    #[test]
    fn responsibility_edge_cases() {
        let m = |healthy: &[&str], local: &str| DistroMapper {
            healthy: healthy.iter().map(|s| (*s).into()).collect(),
            local: local.into(),
            standalone: false,
            distro_enabled: true,
        };
        assert!(!m(&[], "a").responsible("x"), "empty list ⇒ false");
        assert!(m(&["b", "c"], "a").responsible("x"), "self not in list ⇒ responsible for everything");
        let three = ["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"];
        let owners: Vec<usize> =
            (0..3).filter(|&i| m(&three, three[i]).responsible("DEFAULT_GROUP@@test-service")).collect();
        assert_eq!(owners, vec![(1531823483 % 3) as usize]);
        assert_eq!(&*m(&three, three[0]).map_srv("DEFAULT_GROUP@@test-service"), three[(1531823483 % 3) as usize]);
    }
}
