//! The words every chain answers, whatever its stages: one list, read by
//! the comment parser (which command a word is) and by the config's
//! validation (no stage may take one for its gates, or it would shadow the
//! built-in command).

/// A built-in command word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuiltIn {
    Verify,
    Rollback,
    Retry,
    Hold,
    Unhold,
    Lock,
    Unlock,
    Gates,
    Envs,
    Help,
}

impl BuiltIn {
    /// Every built-in word, in the order `/help` lists them after the
    /// chain's own.
    pub(crate) const ALL: [BuiltIn; 10] = [
        BuiltIn::Verify,
        BuiltIn::Rollback,
        BuiltIn::Retry,
        BuiltIn::Hold,
        BuiltIn::Unhold,
        BuiltIn::Lock,
        BuiltIn::Unlock,
        BuiltIn::Gates,
        BuiltIn::Envs,
        BuiltIn::Help,
    ];

    /// The word as typed after the slash.
    pub(crate) fn word(self) -> &'static str {
        match self {
            BuiltIn::Verify => "verify",
            BuiltIn::Rollback => "rollback",
            BuiltIn::Retry => "retry",
            BuiltIn::Hold => "hold",
            BuiltIn::Unhold => "unhold",
            BuiltIn::Lock => "lock",
            BuiltIn::Unlock => "unlock",
            BuiltIn::Gates => "gates",
            BuiltIn::Envs => "envs",
            BuiltIn::Help => "help",
        }
    }

    /// The built-in command `word` (ASCII-lowercased) names, if any.
    pub(crate) fn parse(word: &str) -> Option<BuiltIn> {
        BuiltIn::ALL.into_iter().find(|b| b.word() == word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back() {
        for b in BuiltIn::ALL {
            assert_eq!(BuiltIn::parse(b.word()), Some(b));
        }
        assert_eq!(BuiltIn::parse("lgtm"), None);
    }
}
