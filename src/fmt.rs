//! Canonical formatting of configuration files, in the manner of `terraform fmt`: two-space
//! indentation by nesting, `=` aligned across consecutive attributes, no trailing white
//! space, single blank lines, one final newline. Comments, strings and heredocs are kept
//! exactly; a result that would not parse to the same document is refused.

/// How each line starts: in code (re-indented) or inside a string, comment or heredoc
/// (kept byte for byte).
struct Line<'a> {
    text: &'a str,
    verbatim: bool,
    /// Bracket depth at the start of the line.
    depth: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// Inside a quoted string.
    Str,
    /// Inside `${ … }` or `%{ … }` in a string, with the count of open braces.
    Interp(usize),
}

fn scan(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut depth: usize = 0;
    let mut stack: Vec<Frame> = Vec::new();
    let mut block_comment = false;
    let mut heredoc: Option<String> = None;
    for text in text.lines() {
        if let Some(marker) = &heredoc {
            if text.trim() == marker {
                heredoc = None;
            }
            lines.push(Line {
                text,
                verbatim: true,
                depth,
            });
            continue;
        }
        lines.push(Line {
            text,
            verbatim: block_comment || !stack.is_empty(),
            depth,
        });
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            if block_comment {
                if c == b'*' && next == Some(b'/') {
                    block_comment = false;
                    i += 1;
                }
            } else if stack.last() == Some(&Frame::Str) {
                match (c, next) {
                    (b'\\', _) => i += 1,
                    (b'"', _) => {
                        stack.pop();
                    }
                    (b'$' | b'%', Some(b'{')) if bytes.get(i.wrapping_sub(1)) != Some(&c) => {
                        stack.push(Frame::Interp(0));
                        i += 1;
                    }
                    _ => {}
                }
            } else {
                match (c, next) {
                    (b'#', _) | (b'/', Some(b'/')) => break,
                    (b'/', Some(b'*')) => {
                        block_comment = true;
                        i += 1;
                    }
                    (b'"', _) => stack.push(Frame::Str),
                    (b'<', Some(b'<')) => {
                        let marker = text[i + 2..].trim_start_matches('-').trim();
                        if !marker.is_empty()
                            && marker.chars().all(|c| c.is_alphanumeric() || c == '_')
                        {
                            heredoc = Some(marker.to_string());
                            break;
                        }
                    }
                    (b'{' | b'[' | b'(', _) => match stack.last_mut() {
                        Some(Frame::Interp(n)) => *n += 1,
                        _ => depth += 1,
                    },
                    (b'}' | b']' | b')', _) => match stack.last_mut() {
                        Some(Frame::Interp(0)) => {
                            stack.pop();
                        }
                        Some(Frame::Interp(n)) => *n -= 1,
                        _ => depth = depth.saturating_sub(1),
                    },
                    _ => {}
                }
            }
            i += 1;
        }
    }
    lines
}

/// `key = value` with the key and the rest, for alignment.
fn attribute(line: &str) -> Option<(&str, &str)> {
    let key_len = if let Some(rest) = line.strip_prefix('"') {
        let end = rest.find('"')?;
        if rest[..end].contains('\\') {
            return None;
        }
        end + 2
    } else {
        line.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))?
    };
    if key_len == 0 {
        return None;
    }
    let (key, rest) = line.split_at(key_len);
    let rest = rest.trim_start().strip_prefix('=')?;
    if rest.starts_with(['=', '>']) {
        return None;
    }
    Some((key, rest.trim_start()))
}

/// Formats one file's text; `Err` when the text does not parse (nothing to format) or when
/// formatting would change its meaning.
pub fn format(text: &str) -> Result<String, FormatError> {
    let before = hcl::parse(text).map_err(|e| FormatError::Syntax(e.to_string()))?;
    let lines = scan(text);
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut group: Vec<(usize, usize)> = Vec::new(); // (index in out, key width)
    let mut group_depth = usize::MAX;
    let flush = |out: &mut Vec<String>, group: &mut Vec<(usize, usize)>| {
        let width = group.iter().map(|g| g.1).max().unwrap_or(0);
        for &(index, key_width) in group.iter() {
            if let Some(eq) = out[index].find(" = ") {
                let pad = " ".repeat(width - key_width);
                out[index].insert_str(eq, &pad);
            }
        }
        group.clear();
    };
    for line in &lines {
        if line.verbatim {
            flush(&mut out, &mut group);
            out.push(line.text.to_string());
            continue;
        }
        let trimmed = line.text.trim();
        if trimmed.is_empty() {
            flush(&mut out, &mut group);
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
            continue;
        }
        let closers = trimmed
            .chars()
            .take_while(|c| matches!(c, '}' | ']' | ')'))
            .count();
        let indent = "  ".repeat(line.depth.saturating_sub(closers));
        match attribute(trimmed) {
            Some((key, value)) => {
                if line.depth != group_depth {
                    flush(&mut out, &mut group);
                    group_depth = line.depth;
                }
                group.push((out.len(), key.chars().count()));
                out.push(format!("{indent}{key} = {value}").trim_end().to_string());
            }
            None => {
                flush(&mut out, &mut group);
                out.push(format!("{indent}{}", empty_block(trimmed)));
            }
        }
    }
    flush(&mut out, &mut group);
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    let mut formatted = out.join("\n");
    formatted.push('\n');
    if formatted.trim().is_empty() {
        formatted.clear();
    }
    let after = hcl::parse(&formatted).map_err(|e| FormatError::Broke(e.to_string()))?;
    if before != after {
        return Err(FormatError::MeaningChanged);
    }
    Ok(formatted)
}

/// A block header with an empty body on one line, `tcp {  }`, as `tcp {}` (the `{` after
/// the last quote: never inside a label).
fn empty_block(line: &str) -> std::borrow::Cow<'_, str> {
    let open = line.rfind('{');
    let after_quotes = line
        .rfind('"')
        .is_none_or(|quote| open.is_some_and(|o| o > quote));
    match open {
        Some(open)
            if after_quotes
                && line.ends_with('}')
                && line[open + 1..line.len() - 1].trim().is_empty() =>
        {
            format!("{}{{}}", &line[..open]).into()
        }
        _ => line.into(),
    }
}

/// Why a file is left as it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    #[error("it does not parse: {0}")]
    Syntax(String),
    #[error("formatting broke the file: {0}")]
    Broke(String),
    #[error("formatting would change the meaning of the file; it was left unchanged")]
    MeaningChanged,
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn indents_aligns_and_keeps_comments() {
        let input = "# top\nvirtual_server \"web\" {\nvip = \"1.2.3.4\"   \n    port=80 # http\n\n\n\n  scheduler    =   \"wrr\"\nreal_server \"a\" {\naddress = \"10.0.0.1\"\n}\n}";
        let expected = "# top\nvirtual_server \"web\" {\n  vip  = \"1.2.3.4\"\n  port = 80 # http\n\n  scheduler = \"wrr\"\n  real_server \"a\" {\n    address = \"10.0.0.1\"\n  }\n}\n";
        assert_eq!(format(input).unwrap(), expected);
        assert_eq!(format(expected).unwrap(), expected, "idempotent");
    }

    #[test]
    fn strings_heredocs_and_templates_are_untouched() {
        let input = "locals {\nmotd = <<EOT\n   keep   this\n  ${x}\nEOT\nname = \"a  {  b\"\ns = \"${ {a = 1}[\"a\"] }\"\nm = {\n\"net.ipv4.x\" = 1\nlong_name_here = 2\n}\n}\n";
        let out = format(input).unwrap();
        assert!(out.contains("\n   keep   this\n  ${x}\nEOT\n"), "{out}");
        assert!(out.contains("  name = \"a  {  b\"\n"), "{out}");
        assert!(
            out.contains("    \"net.ipv4.x\"   = 1\n    long_name_here = 2\n"),
            "{out}"
        );
        assert_eq!(format(&out).unwrap(), out);
    }

    #[test]
    fn an_empty_block_closes_on_its_line() {
        assert_eq!(
            format("a {\n  tcp {  }\n  b \"{ }\" {   }\n  s = \"{  }\"\n}\n").unwrap(),
            "a {\n  tcp {}\n  b \"{ }\" {}\n  s = \"{  }\"\n}\n"
        );
    }

    #[test]
    fn refuses_unparsable_input() {
        assert!(format("virtual_server {").is_err());
    }
}
