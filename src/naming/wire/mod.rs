//! The Nacos 1.x naming surface as typed values: HTTP requests and responses, UDP push and ack
//! (spec Appendix B), plus the timers and observations shared by the server and client cores.
//!
//! Payloads that real Nacos serializes to JSON travel here as plain values (`Rc` for the large,
//! immutable ones so a push to many clients does not copy host lists). One file per kind:
//! [`payload`] (instances, service JSON), [`addr`] (address keys), [`request`] (the HTTP and
//! UDP messages), [`timer`] (the cores' tasks), [`observation`] (what a trace records), [`operation`] (what an
//! operator asks of a server).

mod addr;
mod observation;
mod operation;
mod payload;
mod request;
mod timer;

pub use addr::*;
pub use observation::*;
pub use operation::*;
pub use payload::*;
pub use request::*;
pub use timer::*;

use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

pub type Str = Rc<str>;
pub type Metadata = Rc<BTreeMap<String, String>>;

/// A Java `double` weight. Hashed by bits so it can live in traced values.
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Weight(pub f64);

impl Hash for Weight {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.to_bits().hash(h)
    }
}

impl Weight {
    /// Java `Double.toString` for the values Nacos uses (`1.0`, `0.01`, `10000.0`).
    pub fn java_string(self) -> String {
        let mut s = String::new();
        self.write_java(&mut s);
        s
    }

    /// Appends [`java_string`](Self::java_string) to `out`. Weights are nearly always whole
    /// numbers, which skip the float formatter (checksums format every instance's weight).
    pub fn write_java(self, out: &mut String) {
        use std::fmt::Write;
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 1e7 {
            if v.is_sign_negative() {
                out.push('-');
            }
            push_decimal(out, v.abs() as i64);
            out.push_str(".0");
        } else {
            let _ = write!(out, "{v}");
        }
    }
}

/// Appends a non-negative integer in decimal, without the formatting machinery (checksums
/// print every instance's port and weight).
pub fn push_decimal(out: &mut String, mut n: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[at..].iter().map(|&d| d as char));
}

/// Who sent an HTTP request, as the User-Agent header says. `DistroFilter` refuses a second hop
/// for `Server`; `canEnablePush` accepts Java clients from 0.1.0.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agent {
    /// `Nacos-Java-Client:v<version>`
    JavaClient(Str),
    /// `Nacos-Server:<version>`
    Server,
    /// Any other User-Agent (e.g. `Nacos-SDK-Java`, curl): push is never enabled for it.
    Other(Str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_timers_stay_small() {
        // Every event moves one of these by value several times on its way to a node.
        assert_eq!(std::mem::size_of::<Msg>(), 24);
        assert_eq!(std::mem::size_of::<Timer>(), 32);
    }

    #[test]
    fn weights_print_like_java() {
        assert_eq!(Weight(1.0).java_string(), "1.0");
        assert_eq!(Weight(0.01).java_string(), "0.01");
        assert_eq!(Weight(10000.0).java_string(), "10000.0");
        assert_eq!(Weight(-0.0).java_string(), "-0.0");
        assert_eq!(Weight(0.0).java_string(), "0.0");
        assert_eq!(Weight(-3.0).java_string(), "-3.0");
        assert_eq!(Weight(2.5).java_string(), "2.5");
        assert_eq!(Weight(1e7).java_string(), "10000000");
        assert_eq!(Weight(9_999_999.0).java_string(), "9999999.0");
        let mut s = String::new();
        for n in [0, 7, 10, 65535, i64::MAX] {
            push_decimal(&mut s, n);
            s.push(' ');
        }
        assert_eq!(s, format!("0 7 10 65535 {} ", i64::MAX));
    }
}
