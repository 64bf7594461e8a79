//! Time zones as Azure sends them: Windows zone ids ("Pacific Standard
//! Time"), resolved through CLDR's mapping to IANA zones, so schedules
//! follow daylight saving.

use jiff::tz::TimeZone;

/// Resolves a policy's `timeZone` (a Windows zone id spelled as CLDR and
/// Azure spell it; also "UTC" and IANA names) to a zone, using the system's
/// time zone database.
pub fn resolve(windows_id: &str) -> Option<TimeZone> {
    let id = windows_id.trim();
    if id.eq_ignore_ascii_case("UTC") || id.eq_ignore_ascii_case("Coordinated Universal Time") {
        return Some(TimeZone::UTC);
    }
    if let Some(iana) = localzone::win_zone_to_iana(id, None) {
        return TimeZone::get(iana).ok();
    }
    TimeZone::get(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_zone_ids_resolve() {
        for (win, iana) in [
            ("UTC", "UTC"),
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("India Standard Time", "Asia/Calcutta"),
            ("Tokyo Standard Time", "Asia/Tokyo"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Europe/Paris", "Europe/Paris"),
        ] {
            let tz = resolve(win).unwrap_or_else(|| panic!("{win}"));
            if iana != "UTC" {
                let want = TimeZone::get(iana).unwrap();
                let t: jiff::Timestamp = "2026-07-01T00:00:00Z".parse().unwrap();
                assert_eq!(tz.to_offset(t), want.to_offset(t), "{win}");
            }
        }
        assert!(resolve("Not A Zone").is_none());
    }
}
