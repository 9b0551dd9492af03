//! Value parsers for arguments: durations (`2h`), JSON, run ids and prefixes, run statuses.
//! A value that does not parse is a usage error (exit code 2), reported by clap.

use std::fmt;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use seam_engine::{RunId, RunStatus};
use serde_json::Value;

/// Parses `90s`, `30m`, `2h`, `1d`, `1w`, `250ms`, or sums like `1h30m`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration; use e.g. 90s, 30m, 2h or 1d".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "'{s}' is not a duration; use e.g. 90s, 30m, 2h or 1d"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("'{s}': number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            "w" => Duration::from_secs(n * 7 * 86_400),
            "" => return Err(format!("'{s}' needs a unit: ms, s, m, h, d or w (e.g. 2h)")),
            other => {
                return Err(format!(
                    "unknown unit '{other}' in '{s}'; use ms, s, m, h, d or w"
                ));
            }
        };
        total += part;
    }
    Ok(total)
}

/// Parses a JSON value (`--input`, `--output`, `--payload`).
pub fn json(s: &str) -> Result<Value, String> {
    serde_json::from_str(s).map_err(|e| {
        format!("not valid JSON ({e}); quote it for the shell, e.g. '{{\"qty\": 2}}' or '\"text\"'")
    })
}

/// A run named on the command line: its full id or a unique prefix of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRef {
    /// A full UUID.
    Id(RunId),
    /// At least 8 hex digits of the id, lowercased, dashes removed.
    Prefix(String),
}

impl fmt::Display for RunRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunRef::Id(id) => id.fmt(f),
            RunRef::Prefix(p) => write!(f, "{p}…"),
        }
    }
}

/// Shortest accepted id prefix.
pub const MIN_PREFIX: usize = 8;

/// Parses a run id or a prefix of at least [`MIN_PREFIX`] hex digits.
pub fn run_ref(s: &str) -> Result<RunRef, String> {
    let s = s.trim();
    if let Ok(id) = s.parse::<RunId>() {
        return Ok(RunRef::Id(id));
    }
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) || hex.len() >= 32 {
        return Err(format!(
            "'{s}' is not a run id: give the full UUID or at least {MIN_PREFIX} of its first hex digits"
        ));
    }
    if hex.len() < MIN_PREFIX {
        return Err(format!(
            "run id prefix '{s}' is too short: give at least {MIN_PREFIX} hex digits"
        ));
    }
    Ok(RunRef::Prefix(hex.to_ascii_lowercase()))
}

/// `--status` values: the run statuses, by their names.
pub fn status() -> impl TypedValueParser<Value = RunStatus> {
    let names: Vec<&'static str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    PossibleValuesParser::new(names).map(|s| s.parse::<RunStatus>().expect("a listed status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_sums() {
        assert_eq!(duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(duration("1w").unwrap(), Duration::from_secs(604_800));
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("1h30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn bad_durations_say_how_to_write_one() {
        assert!(duration("").is_err());
        assert!(duration("2").unwrap_err().contains("needs a unit"));
        assert!(duration("2y").unwrap_err().contains("unknown unit"));
        assert!(duration("h").is_err());
        assert!(duration("-1h").is_err());
    }

    #[test]
    fn run_refs_accept_full_ids_and_long_enough_prefixes() {
        let id = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
        assert!(matches!(run_ref(id), Ok(RunRef::Id(_))));
        assert_eq!(
            run_ref("3F2A1B4C").unwrap(),
            RunRef::Prefix("3f2a1b4c".into())
        );
        assert_eq!(
            run_ref("3f2a1b4c-5d6e").unwrap(),
            RunRef::Prefix("3f2a1b4c5d6e".into())
        );
        assert!(run_ref("3f2a1b").unwrap_err().contains("too short"));
        assert!(run_ref("not-a-run").unwrap_err().contains("not a run id"));
    }

    #[test]
    fn json_values_parse_and_errors_show_quoting() {
        assert_eq!(json("{\"a\":1}").unwrap()["a"], 1);
        assert_eq!(json("null").unwrap(), Value::Null);
        assert!(json("{a}").unwrap_err().contains("quote it"));
    }
}
