//! Which lines of a comment a reader takes as `/word` commands, by parsing
//! the comment as GitHub renders it: CommonMark with GitHub's extensions
//! (tables, strikethrough, task lists, footnotes), through pulldown-cmark.
//!
//! A command line is a line of a paragraph at the top level of the
//! comment: not inside a block quote (lazy continuation lines included), a
//! list, a table, a footnote, a heading (setext ones included), a code
//! block or an HTML block. It starts with a literal `/` (an escaped `\/`
//! is someone writing about a command, not giving one), and what precedes
//! the `/` on its line is only indentation. Inline code, inline HTML and
//! emphasis at the start of a line are not a command; inside the rest of
//! a command line, HTML comments are dropped from its arguments.
//!
//! One rule on top of CommonMark, in the direction of acting on less: a
//! `<!--` that CommonMark leaves unclosed (in an HTML block whose end
//! condition is met before the comment ends, say) is treated as a browser
//! treats it, hiding everything up to the next `-->` of raw HTML. A `-->`
//! in text closes nothing: GitHub renders it as `--&gt;`.

use std::borrow::Cow;
use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// A line that starts with `/word`, as a reader sees it.
pub(super) struct CommandLine<'a> {
    /// The word as typed, without the slash.
    pub typed: &'a str,
    /// ASCII-lowercased.
    pub word: String,
    /// The rest of the line as a reader sees it: text, inline code as
    /// typed, HTML comments removed.
    pub args: String,
}

/// The options GitHub renders comments with.
fn options() -> Options {
    let mut o = Options::empty();
    o.insert(Options::ENABLE_TABLES);
    o.insert(Options::ENABLE_STRIKETHROUGH);
    o.insert(Options::ENABLE_TASKLISTS);
    o.insert(Options::ENABLE_FOOTNOTES);
    o
}

/// Every command line of `body`, in order.
pub(super) fn command_lines(body: &str) -> impl Iterator<Item = CommandLine<'_>> {
    // Nothing can be a command without a slash: most comments stop here.
    let lines = if body.contains('/') {
        scan(body)
    } else {
        Vec::new()
    };
    lines.into_iter()
}

/// One piece of a paragraph line.
enum Piece<'a> {
    /// Text as the reader sees it, and where it was in the source.
    Text(String, Range<usize>),
    /// Inline code, as typed (backticks included).
    Code(&'a str),
    /// Emphasis, links, images…: markup around text.
    Markup,
}

/// The paragraph line being read.
struct Line<'a> {
    /// Where it starts in the source (after the break before it).
    start: usize,
    pieces: Vec<Piece<'a>>,
    /// Some of it was inside an HTML comment.
    hidden: bool,
}

impl<'a> Line<'a> {
    fn new(start: usize) -> Self {
        Line {
            start,
            pieces: Vec::new(),
            hidden: false,
        }
    }

    fn text(&mut self, text: &str, range: Range<usize>) {
        // Consecutive text (an entity, an escape, a `[` that opened no
        // link) reads as one run.
        if let Some(Piece::Text(run, at)) = self.pieces.last_mut()
            && at.end == range.start
        {
            run.push_str(text);
            at.end = range.end;
            return;
        }
        self.pieces.push(Piece::Text(text.to_string(), range));
    }

    /// The command this line is, if it is one.
    fn command(self, body: &'a str) -> Option<CommandLine<'a>> {
        if self.hidden {
            return None;
        }
        let mut pieces = self.pieces.into_iter();
        let Some(Piece::Text(first, at)) = pieces.next() else {
            return None;
        };
        // Only indentation before the slash, which must be typed as is.
        let before = body.get(self.start..at.start)?;
        if !before.chars().all(char::is_whitespace) || !body.get(at.start..)?.starts_with('/') {
            return None;
        }
        let after_slash = first.strip_prefix('/')?;
        let word_end = after_slash
            .find(char::is_whitespace)
            .unwrap_or(after_slash.len());
        let (word, tail) = after_slash.split_at_checked(word_end)?;
        // A command word is ASCII letters, digits and `-` (a Unicode
        // lookalike, such as the Kelvin sign, is not a command).
        let plausible = word.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !plausible {
            return None;
        }
        // The word as typed in the source (it is plain ASCII, so the
        // source holds it as the reader sees it).
        let typed = body.get(at.start + 1..at.start + 1 + word.len())?;
        let mut args = tail.to_string();
        for piece in pieces {
            match piece {
                Piece::Text(t, _) => args.push_str(&t),
                Piece::Code(c) => args.push_str(c),
                Piece::Markup => {}
            }
        }
        Some(CommandLine {
            typed,
            word: word.to_ascii_lowercase(),
            args,
        })
    }
}

/// Whether HTML `html` leaves a comment open, given whether one was open
/// before it.
fn comment_open_after(html: &str, mut open: bool) -> bool {
    let mut rest = html;
    loop {
        let marker = if open { "-->" } else { "<!--" };
        match rest.find(marker) {
            Some(at) => {
                // `<!-->` closes itself, as in CommonMark.
                let skip = if open { at + 3 } else { at + 2 };
                rest = rest.get(skip..).unwrap_or("");
                open = !open;
            }
            None => return open,
        }
    }
}

/// `body` with each lone `\r` made a `\n`: both end a line in CommonMark,
/// but pulldown-cmark misses a lone `\r` inside an indented code block.
/// One byte for one byte, so offsets into either text are the same.
#[inline(never)]
fn lone_cr_as_lf(body: &str) -> Cow<'_, str> {
    if !body.contains('\r') {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(if c == '\r' && chars.peek() != Some(&'\n') {
            '\n'
        } else {
            c
        });
    }
    Cow::Owned(out)
}

fn scan(body: &str) -> Vec<CommandLine<'_>> {
    let mut found = Vec::new();
    let source = lone_cr_as_lf(body);
    // How deep in blocks the parser is; a top-level paragraph is at 0.
    let mut depth = 0usize;
    let mut line: Option<Line<'_>> = None;
    // An HTML comment CommonMark left unclosed.
    let mut comment = false;
    for (event, range) in Parser::new_ext(&source, options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Paragraph) if depth == 0 => {
                depth += 1;
                let mut l = Line::new(range.start);
                l.hidden = comment;
                line = Some(l);
            }
            Event::End(TagEnd::Paragraph) if depth == 1 && line.is_some() => {
                depth -= 1;
                if let Some(l) = line.take() {
                    found.extend(l.command(body));
                }
            }
            Event::Start(tag) => {
                depth += 1;
                if matches!(
                    tag,
                    Tag::Emphasis
                        | Tag::Strong
                        | Tag::Strikethrough
                        | Tag::Link { .. }
                        | Tag::Image { .. }
                ) && let Some(l) = line.as_mut()
                {
                    l.pieces.push(Piece::Markup);
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::SoftBreak | Event::HardBreak => {
                if let Some(l) = line.replace(Line::new(range.end)) {
                    found.extend(l.command(body));
                }
                if comment && let Some(l) = line.as_mut() {
                    l.hidden = true;
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                comment = comment_open_after(&html, comment);
                if let Some(l) = line.as_mut() {
                    // Inline HTML holds no command and is no argument; it
                    // may open a comment that hides the rest.
                    if l.pieces.is_empty() {
                        l.pieces.push(Piece::Markup);
                    }
                    if comment {
                        l.hidden = true;
                    }
                }
            }
            Event::Text(text) => {
                if let Some(l) = line.as_mut() {
                    l.hidden |= comment;
                    l.text(&text, range);
                }
            }
            Event::Code(_) => {
                if let Some(l) = line.as_mut() {
                    l.hidden |= comment;
                    l.pieces.push(Piece::Code(body.get(range).unwrap_or("")));
                }
            }
            // Footnote references, task markers, rules, math: not text
            // a command is made of.
            _ => {
                if let Some(l) = line.as_mut() {
                    l.pieces.push(Piece::Markup);
                }
            }
        }
    }
    found
}
