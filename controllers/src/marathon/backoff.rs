//! Marathon's launch backoff: how long a crash-looping app waits before its next launch.
//!
//! Why it exists: an app whose tasks keep failing must not hammer the cluster (Marathon's
//! backoffSeconds × backoffFactor^(failures-1), capped by maxLaunchDelaySeconds). Failed and
//! Finished tasks count; Killed ones (scale-down, health-check kills, user kills) do not; a new
//! version starts from zero, and so does an app that has run healthy for 30 s. The count and the time live in the App's status, so a restarted
//! controller keeps the delay.

use std::time::Duration;

use strata_api::app::AppSpec;

/// The delay after `failures` failures in a row (none after zero).
pub fn delay(spec: &AppSpec, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let cap = spec.max_launch_delay_seconds as f64;
    let grown =
        spec.backoff_seconds as f64 * spec.backoff_factor.max(1.0).powi(failures as i32 - 1);
    Duration::from_secs_f64(grown.min(cap).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_by_the_factor_up_to_the_cap() {
        let spec = AppSpec {
            backoff_seconds: 2,
            backoff_factor: 2.0,
            max_launch_delay_seconds: 10,
            ..AppSpec::default()
        };
        let secs = |n| delay(&spec, n).as_secs();
        assert_eq!(
            [secs(0), secs(1), secs(2), secs(3), secs(4), secs(40)],
            [0, 2, 4, 8, 10, 10]
        );
        let marathon = AppSpec::default();
        assert_eq!(delay(&marathon, 1), Duration::from_secs(1));
        assert_eq!(delay(&marathon, 2), Duration::from_millis(1150));
        assert_eq!(delay(&marathon, 1000), Duration::from_secs(300));
    }
}
