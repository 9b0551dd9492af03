//! Human formatting of times, ages, durations, ids and long text.

use chrono::{DateTime, Local, Utc};
use seam_engine::RunId;

/// A compact age or span: `42s`, `12m`, `5h`, `3d` (`1h05m` style below a day).
pub fn span(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86_400 {
        let (h, m) = (secs / 3600, (secs % 3600) / 60);
        if m == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{m:02}m")
        }
    } else {
        format!("{}d", secs / 86_400)
    }
}

/// How long ago `t` was: `5m ago` (or `in 5m` for a future time).
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t > now {
        format!("in {}", span(t - now))
    } else {
        format!("{} ago", span(now - t))
    }
}

/// A run duration in milliseconds or seconds: `8ms`, `1.25s`, `3m04s`.
pub fn duration(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        let s = ms / 1000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A timestamp in local time, to the second.
pub fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A timestamp in local time, to the millisecond (history).
pub fn time_ms(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// The first 8 hex digits of a run id: what tables show (commands accept it back).
pub fn short_id(id: RunId) -> String {
    id.0.simple().to_string()[..8].to_string()
}

/// `text` cut to `max` characters, with an ellipsis when cut; newlines become spaces.
pub fn truncate(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as D;

    #[test]
    fn spans_are_compact() {
        assert_eq!(span(D::seconds(42)), "42s");
        assert_eq!(span(D::seconds(12 * 60 + 5)), "12m");
        assert_eq!(span(D::seconds(2 * 3600)), "2h");
        assert_eq!(span(D::seconds(3600 + 5 * 60)), "1h05m");
        assert_eq!(span(D::seconds(3 * 86_400 + 5)), "3d");
        assert_eq!(span(D::seconds(-5)), "0s");
    }

    #[test]
    fn durations_keep_precision_where_it_matters() {
        assert_eq!(duration(D::milliseconds(8)), "8ms");
        assert_eq!(duration(D::milliseconds(1250)), "1.25s");
        assert_eq!(duration(D::seconds(184)), "3m04s");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("a\nb", 5), "a b");
    }
}
