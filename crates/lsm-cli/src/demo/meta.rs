//! Where and how the demo ran: the machine (cores, CPU model, OS), the
//! build (profile, git commit, compiler) and the date, for the report's
//! metadata block. Nothing here can fail: what cannot be found is
//! `unknown`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The binary's git commit, recorded by `build.rs` (`unknown` without git).
pub const GIT_COMMIT: &str = env!("LSM_BUILD_GIT_COMMIT");
/// `rustc --version` of the compiler that built the binary.
pub const RUSTC: &str = env!("LSM_BUILD_RUSTC");

/// `release` or `debug`: whether debug assertions are compiled in (a debug
/// build is many times slower, so its numbers are not the engine's).
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Logical cores this process may use.
pub fn cores() -> String {
    std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The CPU model from `/proc/cpuinfo` (Linux), if there is one.
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
        .filter(|model| !model.is_empty())
}

/// The UTC date and time `at`, as `2025-01-31 14:05 UTC`.
pub fn utc_timestamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let minutes = (secs % 86_400) / 60;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

/// Year, month, day of the day `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The metadata block's `(name, value)` rows.
pub fn items(started: SystemTime) -> Vec<(String, String)> {
    let machine = match cpu_model() {
        Some(model) => format!("{} cores, {model}", cores()),
        None => format!("{} cores", cores()),
    };
    [
        ("date", utc_timestamp(started)),
        ("machine", machine),
        (
            "OS",
            format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        ),
        (
            "build",
            format!("{} (lsm {})", build_profile(), env!("CARGO_PKG_VERSION")),
        ),
        ("git commit", GIT_COMMIT.to_string()),
        ("compiler", RUSTC.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01 00:00 UTC");
        // 2024-02-29 12:34:56 UTC: a leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(utc_timestamp(leap), "2024-02-29 12:34 UTC");
        let new_year = UNIX_EPOCH + Duration::from_secs(1_735_689_600);
        assert_eq!(utc_timestamp(new_year), "2025-01-01 00:00 UTC");
    }

    #[test]
    fn the_profile_matches_debug_assertions() {
        assert_eq!(build_profile() == "debug", cfg!(debug_assertions));
    }
}
