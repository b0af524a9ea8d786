//! Quoting user-typed text in gatebot's markdown (replies, the check run),
//! so that it reads as text and nothing else: no @mention that notifies
//! anyone, no link, no formatting, no way out of the quote.

/// `text` as an inline code span, delimited by one more backtick than the
/// longest run of backticks inside it (CommonMark's rule), so no backtick in
/// `text` can close it. Line breaks and other control characters become
/// spaces: a code span cannot hold a line ending.
pub(crate) fn code_span(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut longest = 0;
    let mut run = 0;
    for c in clean.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    // A span that starts or ends with a backtick needs a space inside the
    // fence (CommonMark strips exactly one on each side).
    let pad = if clean.starts_with('`') || clean.ends_with('`') || clean.trim().is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_gets_one_backtick() {
        assert_eq!(code_span("/rollback now"), "`/rollback now`");
    }

    #[test]
    fn backticks_inside_cannot_close_it() {
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("x ``` y"), "````x ``` y````");
        assert_eq!(code_span("`@team`"), "`` `@team` ``");
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(code_span("a\rb\u{7}c"), "`a b c`");
    }

    #[test]
    fn a_closing_attempt_with_a_mention_stays_inside() {
        let s = code_span("/lgtm ` @everyone **pwned** `");
        assert!(s.starts_with("``") && s.ends_with("``"), "{s}");
        assert!(!s[2..s.len() - 2].contains("``"), "{s}");
    }
}
