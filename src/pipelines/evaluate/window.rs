//! The window a mask is predicted from when its text is longer than the model's positions.
//!
//! The text's word pieces (without `[CLS]`/`[SEP]`) are `n` long and the model takes `len` of them
//! (its maximum length less the two specials). A text that fits is one window, `0..n`. Otherwise
//! each mask gets the `len` pieces centred on it, slid back inside the text at either end:
//!
//! ```text
//! start = clamp(i - len/2, 0, n - len)        window = start .. start + len
//! ```
//!
//! Masks whose windows are equal share one forward pass. Other masks inside a window stay masks:
//! the model sees the text as the row gives it.

use std::ops::Range;

/// The window of `len` pieces for the mask at piece `i` of `n`.
pub fn window(n: usize, i: usize, len: usize) -> Range<usize> {
    if n <= len {
        return 0..n;
    }
    let start = i.saturating_sub(len / 2).min(n - len);
    start..start + len
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn a_text_that_fits_is_one_window() {
        assert_eq!(window(10, 3, 10), 0..10);
        assert_eq!(window(4, 0, 510), 0..4);
    }

    #[test]
    fn long_texts_centre_the_mask_and_stay_inside() {
        // 20 pieces, windows of 6: centred at 10 → 7..13; near the ends, slid back inside.
        assert_eq!(window(20, 10, 6), 7..13);
        assert_eq!(window(20, 1, 6), 0..6);
        assert_eq!(window(20, 19, 6), 14..20);
        assert_eq!(window(20, 3, 6), 0..6);
        assert_eq!(window(20, 4, 6), 1..7);
    }
}
