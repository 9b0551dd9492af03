//! ANSI colours, used only when stdout is a terminal and NO_COLOR is unset.

use seam_engine::RunStatus;

/// The few colours `seam` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Done well.
    Green,
    /// Needs attention.
    Yellow,
    /// Failed.
    Red,
    /// In progress.
    Cyan,
    /// Paused.
    Magenta,
    /// Secondary text.
    Dim,
    /// Headings.
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Red => "31",
            Color::Cyan => "36",
            Color::Magenta => "35",
            Color::Dim => "2",
            Color::Bold => "1",
        }
    }
}

/// `text` wrapped in the colour's escape codes when `on`.
pub fn paint(on: bool, text: &str, color: Color) -> String {
    if on && !text.is_empty() {
        format!("\x1b[{}m{text}\x1b[0m", color.code())
    } else {
        text.to_string()
    }
}

/// The colour of a run status.
pub fn status_color(status: RunStatus) -> Option<Color> {
    use RunStatus::*;
    match status {
        Completed => Some(Color::Green),
        Failed | CompensationFailed => Some(Color::Red),
        Cancelled => Some(Color::Dim),
        Running => Some(Color::Cyan),
        Waiting | Compensating => Some(Color::Yellow),
        Paused => Some(Color::Magenta),
        Pending => None,
    }
}
