//! `Cpus`: CPU shares as fixed-point milli-cpus.
//!
//! Why it exists: Mesos and Marathon express cpus as decimals with three places (`0.5`, `0.125`),
//! and summing them as floating point drifts (`0.1 + 0.2 != 0.3`), which makes "does this task fit
//! the offer" flaky. Keeping integer milli-cpus inside and a JSON number outside gives exact
//! arithmetic and the wire form users already write. Values with more than three decimals are
//! rounded to the nearest milli-cpu, as Mesos does.

use std::borrow::Cow;
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest number of cpus accepted (2^53 milli-cpus, so every value is exact as a JSON number).
const MAX_MILLIS: u64 = 1 << 53;

/// An amount of CPU, kept as whole milli-cpus (`Cpus::from_millis(500)` is half a CPU).
///
/// Serialized as a JSON number: whole values as integers (`4`), others with up to three decimals
/// (`0.5`, `0.125`). Its schema is `type: number`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpus(u64);

/// Why a number could not be read as cpus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpusError {
    /// The text is not a plain decimal number.
    #[error("{0:?} is not a number of cpus: write a decimal such as 0.5, 2 or 0.125")]
    Syntax(String),
    /// The value is negative.
    #[error("cpus must not be negative (got {0})")]
    Negative(String),
    /// The value is too large to be a CPU amount (or not finite).
    #[error("{0} cpus is too large (the limit is {max})", max = MAX_MILLIS / 1000)]
    TooLarge(String),
}

impl Cpus {
    /// No CPU at all.
    pub const ZERO: Cpus = Cpus(0);

    /// `millis` thousandths of a CPU.
    pub const fn from_millis(millis: u64) -> Cpus {
        Cpus(millis)
    }

    /// `n` whole CPUs.
    pub const fn whole(n: u64) -> Cpus {
        Cpus(n.saturating_mul(1000))
    }

    /// The amount in thousandths of a CPU.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Whether this is no CPU at all.
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Rounds a floating-point number of cpus to the nearest milli-cpu, as Mesos does.
    pub fn from_f64(cpus: f64) -> Result<Cpus, CpusError> {
        if cpus.is_nan() {
            return Err(CpusError::Syntax(cpus.to_string()));
        }
        if cpus < 0.0 {
            return Err(CpusError::Negative(cpus.to_string()));
        }
        let millis = (cpus * 1000.0).round();
        if !millis.is_finite() || millis > MAX_MILLIS as f64 {
            return Err(CpusError::TooLarge(cpus.to_string()));
        }
        // In range and integral by the checks above, so the cast is exact.
        Ok(Cpus(millis as u64))
    }

    /// The amount as a floating-point number of cpus (exact up to 2^53 milli-cpus).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Cpus) -> Option<Cpus> {
        match self.0.checked_add(other.0) {
            Some(m) => Some(Cpus(m)),
            None => None,
        }
    }

    /// `self - other`, or `None` if that would be negative.
    pub const fn checked_sub(self, other: Cpus) -> Option<Cpus> {
        match self.0.checked_sub(other.0) {
            Some(m) => Some(Cpus(m)),
            None => None,
        }
    }

    /// `self - other`, stopping at zero.
    pub const fn saturating_sub(self, other: Cpus) -> Cpus {
        Cpus(self.0.saturating_sub(other.0))
    }
}

impl Add for Cpus {
    type Output = Cpus;

    /// Sums two amounts; saturates instead of overflowing (2^64 milli-cpus is not a real machine).
    fn add(self, other: Cpus) -> Cpus {
        Cpus(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Cpus {
    fn add_assign(&mut self, other: Cpus) {
        *self = *self + other;
    }
}

impl Sum for Cpus {
    fn sum<I: Iterator<Item = Cpus>>(iter: I) -> Cpus {
        iter.fold(Cpus::ZERO, Add::add)
    }
}

impl fmt::Display for Cpus {
    /// `4`, `0.5`, `0.125`: no trailing zeros, no exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:03}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for Cpus {
    type Err = CpusError;

    /// Parses a plain decimal (`4`, `0.5`, `.25`, `1.125`) exactly; digits past the third decimal
    /// round to the nearest milli-cpu.
    fn from_str(s: &str) -> Result<Cpus, CpusError> {
        let text = s.trim();
        if let Some(rest) = text.strip_prefix('-')
            && !rest.is_empty()
            && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return Err(CpusError::Negative(text.to_string()));
        }
        let text = text.strip_prefix('+').unwrap_or(text);
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return Err(CpusError::Syntax(s.to_string()));
        }
        let too_large = || CpusError::TooLarge(text.to_string());
        let int = int.trim_start_matches('0');
        let whole: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_large())?
        };
        let mut millis = 0u64;
        for (i, d) in frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .enumerate()
        {
            millis += u64::from(d - b'0') * 10u64.pow(2 - i as u32);
        }
        if frac.as_bytes().get(3).is_some_and(|d| *d >= b'5') {
            millis += 1;
        }
        let total = whole
            .checked_mul(1000)
            .and_then(|w| w.checked_add(millis))
            .ok_or_else(too_large)?;
        if total > MAX_MILLIS {
            return Err(too_large());
        }
        Ok(Cpus(total))
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            serializer.serialize_u64(self.0 / 1000)
        } else {
            serializer.serialize_f64(self.as_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cpus, D::Error> {
        struct CpusVisitor;

        impl Visitor<'_> for CpusVisitor {
            type Value = Cpus;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number of cpus such as 0.5 or 2")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cpus, E> {
                v.checked_mul(1000)
                    .filter(|m| *m <= MAX_MILLIS)
                    .map(Cpus)
                    .ok_or_else(|| E::custom(CpusError::TooLarge(v.to_string())))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cpus, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(CpusError::Negative(v.to_string()))),
                }
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cpus, E> {
                Cpus::from_f64(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(CpusVisitor)
    }
}

impl JsonSchema for Cpus {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Cpus".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "minimum": 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(s: &str) -> Cpus {
        s.parse().unwrap()
    }

    #[test]
    fn point_one_plus_point_two_is_exactly_point_three() {
        let sum = Cpus::from_f64(0.1).unwrap() + Cpus::from_f64(0.2).unwrap();
        assert_eq!(sum, Cpus::from_f64(0.3).unwrap());
        assert_eq!(sum.millis(), 300);
        assert_eq!(sum.to_string(), "0.3");
        assert_eq!(Cpus::from_f64(0.1 + 0.2).unwrap(), sum);
        assert_eq!(cpus("0.1") + cpus("0.2"), cpus("0.3"));
    }

    #[test]
    fn rounds_to_the_nearest_milli_cpu() {
        assert_eq!(Cpus::from_f64(0.0004).unwrap(), Cpus::ZERO);
        assert_eq!(Cpus::from_f64(0.0005).unwrap().millis(), 1);
        assert_eq!(Cpus::from_f64(1.2345).unwrap().millis(), 1235);
        assert_eq!(cpus("1.2344").millis(), 1234);
        assert_eq!(cpus("1.2345").millis(), 1235);
        assert_eq!(cpus("0.9999").millis(), 1000);
    }

    #[test]
    fn displays_without_trailing_zeros() {
        for (millis, text) in [
            (0, "0"),
            (4000, "4"),
            (500, "0.5"),
            (125, "0.125"),
            (1050, "1.05"),
            (10, "0.01"),
        ] {
            assert_eq!(Cpus::from_millis(millis).to_string(), text);
            assert_eq!(cpus(text).millis(), millis, "{text}");
        }
    }

    #[test]
    fn parses_decimal_forms() {
        assert_eq!(cpus(".25").millis(), 250);
        assert_eq!(cpus("2.").millis(), 2000);
        assert_eq!(cpus(" 007 ").millis(), 7000);
        assert_eq!(cpus("+1").millis(), 1000);
    }

    #[test]
    fn rejects_bad_text_with_a_hint() {
        let err = "four".parse::<Cpus>().unwrap_err();
        assert!(
            err.to_string().contains("write a decimal such as 0.5"),
            "{err}"
        );
        assert!(matches!("-1".parse::<Cpus>(), Err(CpusError::Negative(_))));
        assert!(matches!("1e3".parse::<Cpus>(), Err(CpusError::Syntax(_))));
        assert!(matches!(".".parse::<Cpus>(), Err(CpusError::Syntax(_))));
        assert!(matches!("".parse::<Cpus>(), Err(CpusError::Syntax(_))));
        assert!(matches!("1.2.3".parse::<Cpus>(), Err(CpusError::Syntax(_))));
        assert!(matches!(
            "99999999999999999999".parse::<Cpus>(),
            Err(CpusError::TooLarge(_))
        ));
        assert!(matches!(Cpus::from_f64(-0.5), Err(CpusError::Negative(_))));
        assert!(matches!(
            Cpus::from_f64(f64::INFINITY),
            Err(CpusError::TooLarge(_))
        ));
        assert!(Cpus::from_f64(f64::NAN).is_err());
    }

    #[test]
    fn serializes_as_a_json_number() {
        assert_eq!(serde_json::to_string(&Cpus::whole(4)).unwrap(), "4");
        assert_eq!(
            serde_json::to_string(&Cpus::from_millis(500)).unwrap(),
            "0.5"
        );
        assert_eq!(
            serde_json::to_string(&Cpus::from_millis(125)).unwrap(),
            "0.125"
        );
        assert_eq!(
            serde_json::to_string(&Cpus::from_millis(300)).unwrap(),
            "0.3"
        );
    }

    #[test]
    fn deserializes_integers_and_floats() {
        let read = |s: &str| serde_json::from_str::<Cpus>(s);
        assert_eq!(read("2").unwrap(), Cpus::whole(2));
        assert_eq!(read("2.0").unwrap(), Cpus::whole(2));
        assert_eq!(read("0.125").unwrap().millis(), 125);
        assert!(
            read("-1")
                .unwrap_err()
                .to_string()
                .contains("must not be negative")
        );
        assert!(read("-0.5").is_err());
        assert!(read("\"1\"").is_err());
        let yaml: Cpus = serde_saphyr::from_str("1.5").unwrap();
        assert_eq!(yaml.millis(), 1500);
    }

    #[test]
    fn arithmetic() {
        assert_eq!(Cpus::whole(1).checked_sub(cpus("0.25")), Some(cpus("0.75")));
        assert_eq!(cpus("0.25").checked_sub(Cpus::whole(1)), None);
        assert_eq!(cpus("0.25").saturating_sub(Cpus::whole(1)), Cpus::ZERO);
        assert_eq!(
            [cpus("0.5"), cpus("0.25"), cpus("0.25")]
                .into_iter()
                .sum::<Cpus>(),
            Cpus::whole(1)
        );
        let mut c = Cpus::ZERO;
        c += cpus("1.5");
        assert_eq!(c.as_f64(), 1.5);
        assert_eq!(
            Cpus::from_millis(u64::MAX).checked_add(Cpus::from_millis(1)),
            None
        );
    }

    #[test]
    fn schema_is_a_plain_number() {
        let schema = schemars::schema_for!(Cpus);
        assert_eq!(schema.get("type").unwrap(), "number");
    }
}
