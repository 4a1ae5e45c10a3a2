//! Sizes and WAL sync policies: the one parser every size flag of every
//! subcommand uses, and the one way sizes are printed.
//!
//! A size is a whole number of bytes, written as a number with an optional
//! binary unit, case-insensitive, with or without a space: `4096`, `100B`,
//! `64k` / `64KiB`, `4M` / `4MiB`, `1G` / `1GiB`, `1T` / `1TiB`; a fraction
//! is allowed when it comes to whole bytes (`1.5k` = 1536). `KB`, `MB`,
//! `GB` and `TB` are refused as ambiguous (1000 or 1024?).
//!
//! A WAL sync policy is `always`, `never` or `every-bytes:SIZE`.

use lsm_store_sync::SyncMode;

/// The binary units, smallest first, with their shift.
const UNITS: [(&str, u32); 4] = [("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40)];

/// Parses a size (see the module doc) into bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim();
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        "kb" | "mb" | "gb" | "tb" => {
            return Err(format!(
                "`{text}` is ambiguous: write {number}{}iB (binary units) or the number of bytes",
                &unit[..1].to_ascii_uppercase()
            ))
        }
        _ => return Err(format!("`{text}` is not a size: {SIZE_FORMS}")),
    };
    let invalid = || format!("`{text}` is not a size: {SIZE_FORMS}");
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(invalid());
    }
    let too_large = || format!("`{text}` is too large (at most 2^64 - 1 bytes)");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    // The fraction, as numerator / 10^digits, scaled by the unit: it must
    // come to whole bytes.
    let digits = u32::try_from(fraction.len()).map_err(|_| invalid())?;
    if digits > 18 {
        return Err(invalid());
    }
    let numerator: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| invalid())?
    };
    let scaled = numerator << shift;
    let denominator = 10u128.pow(digits);
    if !scaled.is_multiple_of(denominator) {
        return Err(format!("`{text}` is not a whole number of bytes"));
    }
    let bytes = whole
        .checked_shl(shift)
        .filter(|b| b >> shift == whole)
        .and_then(|b| b.checked_add(scaled / denominator))
        .ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

/// What [`parse_size`] accepts, for its error messages.
const SIZE_FORMS: &str = "expected bytes, or a number with a unit: 64k, 4MiB, 1G";

/// [`parse_size`] into a `usize`.
pub(crate) fn parse_size_usize(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    usize::try_from(bytes).map_err(|_| format!("`{text}` is too large for this machine"))
}

/// A clap value parser: [`parse_size`], then `min..=max`.
pub(crate) fn size_in(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let bytes = parse_size(text)?;
        if (min..=max).contains(&bytes) {
            Ok(bytes)
        } else {
            Err(format!(
                "`{text}` is out of range: expected {} to {}",
                human_bytes(min),
                human_bytes(max)
            ))
        }
    }
}

/// `bytes` with a binary unit: `512 B`, `64 KiB` (whole units print
/// without a fraction), `4.4 KiB`, `1.5 GiB`. The one way the CLI prints a
/// size for people.
pub(crate) fn human_bytes(bytes: u64) -> String {
    let Some(&(unit, shift)) = UNITS.iter().rev().find(|(_, shift)| bytes >> shift > 0) else {
        return format!("{bytes} B");
    };
    if bytes.trailing_zeros() >= shift {
        format!("{} {unit}", bytes >> shift)
    } else {
        format!("{:.1} {unit}", bytes as f64 / (1u64 << shift) as f64)
    }
}

/// Parses a WAL sync policy: `always`, `never` or `every-bytes:SIZE`.
pub(crate) fn parse_sync_mode(text: &str) -> Result<SyncMode, String> {
    match text {
        "always" => Ok(SyncMode::Always),
        "never" => Ok(SyncMode::Never),
        _ => {
            let expected = || {
                format!(
                    "expected always, never or every-bytes:N (N a size such as 1MiB), got `{text}`"
                )
            };
            let size = text.strip_prefix("every-bytes:").ok_or_else(expected)?;
            let bytes = parse_size(size).map_err(|err| format!("{}: {err}", expected()))?;
            Ok(SyncMode::EveryBytes(bytes))
        }
    }
}

/// A WAL sync policy as [`parse_sync_mode`] reads it.
pub(crate) fn sync_mode_label(mode: SyncMode) -> String {
    match mode {
        SyncMode::Always => "always".to_string(),
        SyncMode::Never => "never".to_string(),
        SyncMode::EveryBytes(bytes) => format!("every-bytes:{bytes}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_and_binary_units_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4m"), Ok(4 << 20));
        assert_eq!(parse_size("4 MiB"), Ok(4 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("0.5MiB"), Ok(512 << 10));
        assert_eq!(parse_size(".5k"), Ok(512));
    }

    #[test]
    fn garbage_ambiguous_units_and_fractions_of_bytes_are_refused() {
        for bad in ["", "k", "x", "12x", "1.2.3k", "-5", "4 M B", ".", "1e6"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
        let err = parse_size("64MB").unwrap_err();
        assert!(err.contains("ambiguous") && err.contains("64MiB"), "{err}");
        let err = parse_size("0.1k").unwrap_err();
        assert!(err.contains("whole number of bytes"), "{err}");
        assert!(parse_size("1.5").is_err(), "1.5 bytes");
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(parse_size("18446744073709551616").is_err());
        assert!(parse_size("16777216T").is_err(), "2^64 bytes");
        assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
        assert!(parse_size("99999999999999999999999999999999999999999k").is_err());
    }

    #[test]
    fn ranges_are_checked_after_the_units() {
        let parser = size_in(8, 1024);
        assert_eq!(parser("1k"), Ok(1024));
        assert_eq!(parser("8"), Ok(8));
        let err = parser("2k").unwrap_err();
        assert!(
            err.contains("out of range") && err.contains("1 KiB"),
            "{err}"
        );
        assert!(parser("7").is_err());
        assert_eq!(parse_size_usize("64MiB"), Ok(64 << 20));
    }

    #[test]
    fn sizes_print_with_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1024), "1 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(4515), "4.4 KiB");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(5 << 20), "5 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(human_bytes(1 << 40), "1 TiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn whole_sizes_printed_parse_back() {
        for bytes in [0, 512, 1024, 64 << 10, 4 << 20, 1 << 30, 7 << 40] {
            let text = human_bytes(bytes);
            assert_eq!(parse_size(&text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn sync_modes_parse_with_sizes_and_print_back() {
        assert_eq!(parse_sync_mode("always"), Ok(SyncMode::Always));
        assert_eq!(parse_sync_mode("never"), Ok(SyncMode::Never));
        assert_eq!(
            parse_sync_mode("every-bytes:4096"),
            Ok(SyncMode::EveryBytes(4096))
        );
        assert_eq!(
            parse_sync_mode("every-bytes:1MiB"),
            Ok(SyncMode::EveryBytes(1 << 20))
        );
        for bad in ["every-bytes:", "every-bytes:12x", "bytes:4096", "sometimes"] {
            let err = parse_sync_mode(bad).unwrap_err();
            assert!(
                err.contains("expected always, never or every-bytes:N"),
                "{bad}: {err}"
            );
        }
        for mode in [
            SyncMode::Always,
            SyncMode::Never,
            SyncMode::EveryBytes(65536),
        ] {
            assert_eq!(parse_sync_mode(&sync_mode_label(mode)), Ok(mode));
        }
    }
}
