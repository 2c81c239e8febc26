//! The characters a name may not hold, and those that show nothing: shared by the request
//! validator (which refuses a name with a bidirectional control, or with nothing visible) and
//! the projections' name comparison (which folds the invisible ones away).

/// Code points that show nothing, inclusive ranges: Unicode's format characters (general
/// category Cf: the zero-width space, joiner and non-joiner, the byte order mark U+FEFF, the
/// soft hyphen, the word joiner, the directional marks, overrides and isolates, ...) together
/// with the other default-ignorable code points (the combining grapheme joiner, variation
/// selectors, Hangul fillers, tags). As of Unicode 16.
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` shows nothing: a format character (Cf) or another default-ignorable code point.
pub fn is_invisible(c: char) -> bool {
    let c = u32::from(c);
    // ASCII holds none of them: the common case costs one comparison.
    if c < 0xAD {
        return false;
    }
    INVISIBLE
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` is a bidirectional embedding, override or isolate (U+202A–U+202E,
/// U+2066–U+2069): text after it may display in another order than it is stored.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether a name has nothing visible in it: every character invisible or white space.
pub fn is_blank(name: &str) -> bool {
    name.chars().all(|c| c.is_whitespace() || is_invisible(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invisible_table_is_sorted_and_disjoint() {
        for pair in INVISIBLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }
}
