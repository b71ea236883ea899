//! Diagnostics: every problem lvsform finds in a configuration, with its place in the source.
//!
//! One type for errors and warnings, rendered three ways: miette's graphical report for
//! people, a compact `file:line:col` form for logs and snapshot tests, and JSON.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A source file as read, shared by every diagnostic that points into it.
#[derive(Debug)]
pub struct SourceFile {
    source: NamedSource<String>,
}

impl SourceFile {
    pub fn new(name: impl AsRef<str>, text: String) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            source: NamedSource::new(name, text),
        })
    }

    pub fn name(&self) -> &str {
        self.source.name()
    }

    pub fn text(&self) -> &str {
        self.source.inner()
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text()[..offset.min(self.text().len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub struct Diag {
    pub severity: Severity,
    pub message: String,
    pub location: Option<Location>,
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Diag {
    pub fn error(message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Error,
            message: message.into(),
            location: None,
            label: None,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(message)
        }
    }

    pub fn at(mut self, file: &Arc<SourceFile>, span: Range<usize>) -> Diag {
        self.location = Some(Location {
            file: file.clone(),
            span,
        });
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diag {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` of the start of the span, if the diagnostic has a place.
    pub fn position(&self) -> Option<(String, usize, usize)> {
        self.location.as_ref().map(|loc| {
            let (line, col) = loc.file.line_col(loc.span.start);
            (loc.file.name().to_string(), line, col)
        })
    }

    /// One line (plus a help line): `file:line:col: error: message`.
    pub fn compact(&self) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = match self.position() {
            Some((file, line, col)) => format!("{file}:{line}:{col}: {severity}: {}", self.message),
            None => format!("{severity}: {}", self.message),
        };
        if let Some(help) = &self.help {
            out.push_str("\n  help: ");
            out.push_str(help);
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let position = self.position();
        serde_json::json!({
            "severity": self.severity,
            "message": self.message,
            "file": position.as_ref().map(|p| &p.0),
            "line": position.as_ref().map(|p| p.1),
            "column": position.as_ref().map(|p| p.2),
            "help": self.help,
        })
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

impl Diagnostic for Diag {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.location
            .as_ref()
            .map(|loc| &loc.file.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let loc = self.location.as_ref()?;
        let span = LabeledSpan::new(
            self.label.clone(),
            loc.span.start,
            loc.span.end.saturating_sub(loc.span.start),
        );
        Some(Box::new(std::iter::once(span)))
    }
}

/// All diagnostics of one run, in the order found.
#[derive(Debug, Default)]
pub struct Diagnostics(pub Vec<Diag>);

impl Diagnostics {
    pub fn push(&mut self, diag: Diag) {
        self.0.push(diag);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diag::is_error)
    }

    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.0.len() - self.errors()
    }

    /// Orders diagnostics by file and position so that output does not depend on the
    /// order in which checks ran, and drops repeats (one expression evaluated for every
    /// `for_each` instance fails the same way each time).
    pub fn sort(&mut self) {
        self.0.sort_by_cached_key(|d| {
            let (file, line, col) = d.position().unwrap_or_default();
            (file, line, col, d.message.clone())
        });
        self.0
            .dedup_by(|a, b| a.message == b.message && a.position() == b.position());
    }
}

/// Renders a diagnostic the way miette draws it on a terminal (colour only when asked).
pub fn render(diag: &Diag, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = miette::GraphicalReportHandler::new_themed(theme);
    if handler.render_report(&mut out, diag).is_err() {
        out = diag.compact();
    }
    out
}
