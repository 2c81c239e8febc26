//! Names as the front door compares them, and the characters a name may not hold.
//!
//! Two spellings of a name are the same name when they look the same: [`comparable`] folds
//! away what a reader cannot see (Unicode normalisation form, invisible characters, case and
//! runs of white space). The service's edge refuses names with bidirectional override or
//! isolate characters ([`is_bidi_control`]), which make a name display differently from how
//! it is stored, and names with nothing visible in them ([`is_invisible`]).

use unicode_normalization::UnicodeNormalization;

pub use events::text::{is_bidi_control, is_blank, is_invisible};

/// The form in which names are compared: invisible characters removed, Unicode NFKC
/// (so composed and decomposed "Zoë", full-width and ordinary letters, ligatures and their
/// letters are the same), lower case, and each run of white space one space, none at the ends.
pub fn comparable(name: &str) -> String {
    if name.is_ascii() {
        // NFKC leaves ASCII as it is and it has no invisible characters: skip both, as a
        // rebuild folds millions of names and nearly all are ASCII.
        return fold_case_and_space(name);
    }
    let normalised: String = name.chars().filter(|&c| !is_invisible(c)).nfkc().collect();
    fold_case_and_space(&normalised)
}

fn fold_case_and_space(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_ascii() {
        out.make_ascii_lowercase();
        out
    } else {
        out.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_the_same_compare_the_same() {
        let nfc = "Zo\u{EB} Example";
        let nfd = "Zoe\u{308} Example";
        assert_ne!(nfc, nfd);
        assert_eq!(comparable(nfc), comparable(nfd));
        assert_eq!(comparable(nfc), "zo\u{EB} example");
        for looks_the_same in [
            "Zo\u{200B}\u{EB} Example",   // zero-width space
            "\u{FEFF}Zo\u{EB} Example",   // a leading byte order mark
            "Zo\u{EB}\u{200D} Example",   // zero-width joiner
            "Zo\u{EB} Ex\u{AD}ample",     // soft hyphen
            "Zo\u{2060}\u{EB} Example",   // word joiner
            "ZO\u{CB}  example",          // case and spacing
            "Zo\u{EB}\u{A0}Example",      // a no-break space
            "\u{FF3A}o\u{EB} Example",    // a full-width Z
            "Zo\u{200C}e\u{308} Example", // ZWNJ inside a decomposed letter
        ] {
            assert_eq!(comparable(looks_the_same), comparable(nfc), "{looks_the_same:?}");
        }
        assert_ne!(comparable("Zoe Example"), comparable(nfc), "the diaeresis is visible");
        assert_eq!(comparable("  Sam   EXAMPLE "), "sam example");
    }

    #[test]
    fn invisible_and_bidi_characters_are_known() {
        for c in ['\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}', '\u{AD}', '\u{2060}', '\u{202E}', '\u{E0041}'] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', ' ', '\u{EB}', '\u{308}', '\u{A0}', '\u{2010}', '\u{FFFD}'] {
            assert!(!is_invisible(c), "{c:?}");
        }
        for c in
            ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']
        {
            assert!(is_bidi_control(c), "{c:?}");
        }
        for c in ['\u{200E}', '\u{200F}', '\u{2029}', '\u{206A}', 'a'] {
            assert!(!is_bidi_control(c), "{c:?}");
        }
        assert!(is_blank("\u{200B}"));
        assert!(is_blank("\u{FEFF} \u{200D}"));
        assert!(!is_blank("\u{FEFF}A"));
    }
}
