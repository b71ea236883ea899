//! Diagnostics: every problem lvsform finds in a configuration, with its place in the source.
//!
//! One type for errors and warnings, rendered three ways: miette's graphical report for
//! people, a compact `file:line:col` form for logs and snapshot tests, and JSON.

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A source file as read, shared by every diagnostic that points into it.
#[derive(Debug)]
pub struct SourceFile {
    name: String,
    text: String,
    /// Byte offset of the start of every line, so that a position is a binary search and
    /// not a scan of the text before it (thousands of diagnostics in a large file).
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl AsRef<str>, text: String) -> Arc<SourceFile> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Arc::new(SourceFile {
            name: name.as_ref().to_string(),
            text,
            line_starts,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// 0-based index of the line holding a byte offset.
    /// The text of 1-based line `line` without its leading white space, as a span.
    pub fn line_span(&self, line: usize) -> std::ops::Range<usize> {
        let start = self.line_starts[line.clamp(1, self.line_starts.len()) - 1];
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |n| start + n);
        let text = &self.text[start..end];
        start + text.len() - text.trim_start().len()..start + text.trim_end().len()
    }

    fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) - 1
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.clamp(offset);
        let line = self.line_index(offset);
        let column = self.text[self.line_starts[line]..offset].chars().count();
        (line + 1, column + 1)
    }

    /// The offset itself, or the nearest character boundary before it inside the text.
    pub fn clamp(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// Byte range of `before` lines above the line of `start` to `after` lines below the
    /// line of `end` (whole lines).
    fn window(&self, start: usize, end: usize, before: usize, after: usize) -> Range<usize> {
        let first = self.line_index(self.clamp(start)).saturating_sub(before);
        let last = self.line_index(self.clamp(end)) + after + 1;
        let from = self.line_starts[first];
        let to = self
            .line_starts
            .get(last)
            .copied()
            .unwrap_or(self.text.len());
        from..to
    }
}

/// miette reads a snippet by scanning the text from its start; this hands it only the
/// lines around the span and moves the result back into place, so that drawing a snippet
/// costs the same anywhere in a file.
impl SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let (start, end) = (span.offset(), span.offset() + span.len());
        if end > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let window = self.window(start, end, context_lines_before, context_lines_after);
        let local = SourceSpan::new((start - window.start).into(), span.len());
        let part = self.text[window.clone()].read_span(
            &local,
            context_lines_before,
            context_lines_after,
        )?;
        let first_line = self.line_index(window.start);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            part.data(),
            SourceSpan::new(
                (part.span().offset() + window.start).into(),
                part.span().len(),
            ),
            part.line() + first_line,
            part.column(),
            part.line_count(),
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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

    /// One line: `file:line:col: error: message`.
    pub fn headline(&self) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.position() {
            Some((file, line, col)) => format!("{file}:{line}:{col}: {severity}: {}", self.message),
            None => format!("{severity}: {}", self.message),
        }
    }

    /// The headline plus a help line.
    pub fn compact(&self) -> String {
        match &self.help {
            Some(help) => format!("{}\n  help: {help}", self.headline()),
            None => self.headline(),
        }
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
            .map(|loc| loc.file.as_ref() as &dyn SourceCode)
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

    /// Groups diagnostics by kind, in the order each kind first appears. A kind is a
    /// severity and a fix: the help line, which every diagnostic has (the message where
    /// one has none). Messages of one kind differ only in names and values.
    pub fn kinds(&self) -> Vec<Kind<'_>> {
        let mut index: HashMap<(Severity, &str), usize> = HashMap::new();
        let mut kinds: Vec<Kind<'_>> = Vec::new();
        for diag in &self.0 {
            let fix = diag.help.as_deref().unwrap_or(&diag.message);
            match index.entry((diag.severity, fix)) {
                Entry::Occupied(entry) => kinds[*entry.get()].others.push(diag),
                Entry::Vacant(entry) => {
                    entry.insert(kinds.len());
                    kinds.push(Kind {
                        first: diag,
                        others: Vec::new(),
                    });
                }
            }
        }
        kinds
    }

    /// Orders diagnostics by file and position so that output does not depend on the
    /// order in which checks ran, and drops repeats (one expression evaluated for every
    /// `for_each` instance fails the same way each time).
    pub fn sort(&mut self) {
        // The byte offset orders like line and column, without counting characters.
        fn place(d: &Diag) -> (Option<(&str, usize)>, &str) {
            let at = d.location.as_ref();
            (at.map(|l| (l.file.name(), l.span.start)), &d.message)
        }
        self.0.sort_by(|a, b| place(a).cmp(&place(b)));
        self.0.dedup_by(|a, b| place(a) == place(b));
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

/// Diagnostics of one kind: the first found and the others.
pub struct Kind<'d> {
    pub first: &'d Diag,
    pub others: Vec<&'d Diag>,
}

/// How many diagnostics of a kind are named, one line each, after the first.
const NAMED_PER_KIND: usize = 3;

/// Renders each kind once: the first diagnostic with its snippet, the next few as one line
/// each, and a count of the rest, so that 50,000 warnings of one kind stay a few lines.
/// (`--json` carries every diagnostic.)
pub fn render_by_kind(diags: &Diagnostics, color: bool) -> String {
    let mut out = String::new();
    for kind in diags.kinds() {
        out.push_str(&render(kind.first, color));
        for other in kind.others.iter().take(NAMED_PER_KIND) {
            out.push_str("  also ");
            out.push_str(&other.headline());
            out.push('\n');
        }
        let rest = kind.others.len().saturating_sub(NAMED_PER_KIND);
        if rest > 0 {
            let noun = match kind.first.severity {
                Severity::Error => "errors",
                Severity::Warning => "warnings",
            };
            out.push_str(&format!(
                "  … and {} more: {} {noun} of this kind in all\n",
                separated(rest),
                separated(kind.others.len() + 1)
            ));
        }
        out.push('\n');
    }
    out
}

/// An error for people: its message, its help line, and the errors it gathers (each
/// indented under it).
pub fn error_text(error: &dyn Diagnostic) -> String {
    let mut text = error.to_string();
    if let Some(help) = error.help() {
        text.push_str(&format!("\n  help: {help}"));
    }
    for related in error.related().into_iter().flatten() {
        for line in error_text(related).lines() {
            text.push_str("\n  ");
            text.push_str(line);
        }
    }
    text
}

/// A count with thousands separators: 49,997.
pub fn separated(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a = 1\nbé = \"ü\"\n\nlast = [\n  2,\n]";

    #[test]
    fn positions_come_from_the_line_index() {
        let file = SourceFile::new("f", TEXT.to_string());
        for offset in 0..=TEXT.len() + 3 {
            let offset_in = offset.min(TEXT.len());
            if !TEXT.is_char_boundary(offset_in) {
                continue;
            }
            let before = &TEXT[..offset_in];
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let col = before[start..].chars().count() + 1;
            assert_eq!(file.line_col(offset), (line, col), "offset {offset}");
        }
    }

    /// Snippets drawn from the indexed window equal those miette draws from the whole text.
    #[test]
    fn snippets_equal_those_of_the_whole_text() {
        for text in [TEXT.to_string(), TEXT.replace('\n', "\r\n")] {
            let file = SourceFile::new("f", text.clone());
            let whole = miette::NamedSource::new("f", text.clone());
            let spans = [(0, 1), (6, 3), (0, text.len()), (text.len() - 1, 1)]
                .into_iter()
                .chain([text.find("last").unwrap()].map(|s| (s, text.len() - s)))
                .chain([text.find('2').unwrap()].map(|s| (s, 1)));
            for (start, len) in spans {
                let span = SourceSpan::new(start.into(), len);
                for (before, after) in [(0, 0), (1, 1), (2, 3)] {
                    let ours = file.read_span(&span, before, after).unwrap();
                    let theirs = whole.read_span(&span, before, after).unwrap();
                    let what = format!("{text:?} {start}+{len} ±{before}/{after}");
                    assert_eq!(ours.data(), theirs.data(), "{what}");
                    assert_eq!(ours.span(), theirs.span(), "{what}");
                    assert_eq!(ours.line(), theirs.line(), "{what}");
                    assert_eq!(ours.column(), theirs.column(), "{what}");
                    assert_eq!(ours.name(), theirs.name(), "{what}");
                }
            }
            let past_the_end = SourceSpan::new(text.len().into(), 1);
            assert!(file.read_span(&past_the_end, 0, 0).is_err());
        }
    }

    #[test]
    fn one_kind_per_fix_with_the_rest_counted() {
        let file = SourceFile::new("f", "x\n".repeat(10));
        let mut diags = Diagnostics::default();
        for line in 0..6 {
            diags.push(
                Diag::warning(format!("server {line} is unmanaged"))
                    .at(&file, line * 2..line * 2 + 1)
                    .help("prepare it yourself"),
            );
        }
        diags.push(
            Diag::error("bad")
                .at(&file, 0..1)
                .help("prepare it yourself"),
        );
        let kinds = diags.kinds();
        assert_eq!(kinds.len(), 2, "an error is never of a warning's kind");
        assert_eq!(kinds[0].others.len(), 5);
        let text = render_by_kind(&diags, false);
        assert_eq!(text.matches("server 0 is unmanaged").count(), 1);
        assert_eq!(text.matches("  also f:").count(), 3);
        assert!(text.contains("  also f:4:1: warning: server 3 is unmanaged\n"));
        assert!(!text.contains("server 4"), "{text}");
        assert!(text.contains("… and 2 more: 6 warnings of this kind in all"));
        assert_eq!(text.matches("prepare it yourself").count(), 2, "{text}");
    }

    #[test]
    fn counts_have_thousands_separators() {
        let cases = [(0, "0"), (999, "999"), (1000, "1,000"), (49_997, "49,997")];
        for (n, text) in cases.into_iter().chain([(1_234_567, "1,234,567")]) {
            assert_eq!(separated(n), text);
        }
    }
}
