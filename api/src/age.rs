//! Ages and durations as kubectl prints them.
//!
//! Why it exists: the store's Table output (`kubectl get`'s AGE column), `strata apps` and the
//! web console all show how long ago something happened, and they must read alike.

use jiff::SignedDuration;

/// kubectl's age format (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`): two
/// significant units at most — "90s", "3m20s", "45m", "3h20m", "36h", "3d5h", "50d", "2y30d".
/// Slightly negative durations (clock skew under 2s) read "0s"; more negative ones "<invalid>".
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return two_units(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return two_units(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return two_units(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return two_units(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

/// "3h20m", or "3h" when the smaller unit is zero.
fn two_units(big: i64, big_unit: &str, small: i64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_at_the_boundaries() {
        const M: i64 = 60;
        const H: i64 = 3600;
        const D: i64 = 24 * H;
        const Y: i64 = 365 * D;
        let cases: &[(i64, &str)] = &[
            (-3, "<invalid>"),
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "60s"),
            (119, "119s"),
            (2 * M, "2m"),
            (2 * M + 1, "2m1s"),
            (3 * M + 20, "3m20s"),
            (9 * M + 59, "9m59s"),
            (10 * M, "10m"),
            (10 * M + 59, "10m"),
            (45 * M, "45m"),
            (3 * H - 1, "179m"),
            (3 * H, "3h"),
            (3 * H + 20 * M, "3h20m"),
            (3 * H + 20 * M + 59, "3h20m"),
            (8 * H - 1, "7h59m"),
            (8 * H, "8h"),
            (36 * H, "36h"),
            (48 * H - 1, "47h"),
            (48 * H, "2d"),
            (3 * D + 5 * H, "3d5h"),
            (8 * D - 1, "7d23h"),
            (8 * D, "8d"),
            (50 * D, "50d"),
            (2 * Y - 1, "729d"),
            (2 * Y, "2y"),
            (2 * Y + 30 * D, "2y30d"),
            (8 * Y - 1, "7y364d"),
            (8 * Y, "8y"),
            (20 * Y + 100 * D, "20y"),
        ];
        for (secs, want) in cases {
            assert_eq!(
                human_duration(SignedDuration::from_secs(*secs)),
                *want,
                "{secs}s"
            );
        }
        // Fractions truncate toward zero, as Go's int(d.Seconds()).
        assert_eq!(human_duration(SignedDuration::from_millis(-1999)), "0s");
        assert_eq!(human_duration(SignedDuration::from_millis(1999)), "1s");
    }
}
