//! Output: where data goes (stdout) and how it looks (tables, colours, times, JSON).
//! Messages and errors go to stderr with `eprintln!`.

pub mod fmt;
pub mod prompt;
pub mod style;
pub mod table;

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::error::Result;
pub use style::Color;

/// Writes a line to stdout; a closed pipe surfaces as an error the caller returns.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::write_line(format_args!($($arg)*)) };
}

/// Writes one line to stdout.
pub fn write_line(args: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// How output looks: JSON or human, coloured or plain.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// Print JSON instead of tables.
    pub json: bool,
    /// Colour human output (stdout is a terminal and NO_COLOR is unset).
    pub color: bool,
    /// Stdout is a terminal (redraw progress in place).
    pub tty: bool,
}

impl Out {
    /// Detects the terminal and NO_COLOR.
    pub fn detect(json: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Out {
            json,
            color: tty && !no_color,
            tty,
        }
    }

    /// `text` in `color` when colours are on.
    pub fn paint(&self, text: &str, color: Color) -> String {
        style::paint(self.color, text, color)
    }

    /// Prints `value` as pretty JSON to stdout.
    pub fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    /// Prints `value` as one line of JSON (for streams: `--follow`, `watch`).
    pub fn print_json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, value).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}
