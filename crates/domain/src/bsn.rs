use std::fmt;

use crate::DomainError;

/// Burgerservicenummer, the Dutch citizen service number.
///
/// Only [`Bsn::parse`] builds one, so every `Bsn` passed the 11-proef. `Debug` prints `Bsn(***)`
/// and there is no `Display`: a BSN must never reach a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bsn(String);

impl Bsn {
    /// Parses nine ASCII digits whose weighted sum (9, 8, …, 2, -1) is a positive multiple of 11.
    pub fn parse(s: &str) -> Result<Bsn, DomainError> {
        let digits: Vec<i64> = s.bytes().map(|b| i64::from(b) - i64::from(b'0')).collect();
        let nine_digits = digits.len() == 9 && digits.iter().all(|d| (0..=9).contains(d));
        if !nine_digits {
            return Err(DomainError::InvalidBsn);
        }
        let sum: i64 = digits
            .iter()
            .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
            .map(|(digit, weight)| digit * weight)
            .sum();
        if !(0 < sum && sum % 11 == 0) {
            return Err(DomainError::InvalidBsn);
        }
        Ok(Bsn(s.to_owned()))
    }

    /// The nine digits, for encryption and the blind index only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsn(***)")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check(input: &str, valid: bool) {
        assert_eq!(Bsn::parse(input).is_ok(), valid, "input {input:?}");
    }

    #[test]
    fn eleven_test() {
        let cases = [
            ("111222333", true),
            ("123456782", true),
            ("999999990", true),
            ("123456789", false), // fails the 11-proef
            ("000000000", false), // sum zero
            ("12345678", false),  // eight digits
            ("1234567820", false),
            ("12345678a", false),
            ("", false),
            ("１２３４５６７８２", false), // full-width digits
            (" 123456782", false),
        ];
        for (input, valid) in cases {
            check(input, valid);
        }
    }

    #[test]
    fn debug_hides_digits() {
        let bsn = Bsn::parse("123456782").unwrap();
        assert_eq!(format!("{bsn:?}"), "Bsn(***)");
    }

    #[test]
    fn error_does_not_echo_input() {
        let err = Bsn::parse("123456789").unwrap_err();
        assert!(!err.to_string().contains("123456789"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Bsn::parse(&s);
        }

        #[test]
        fn one_changed_digit_is_caught(position in 0usize..9, delta in 1u8..10) {
            // The 11-proef detects every single-digit error: the weights are non-zero mod 11.
            let mut digits = b"123456782".to_vec();
            digits[position] = b'0' + (digits[position] - b'0' + delta) % 10;
            let changed = String::from_utf8(digits).unwrap();
            prop_assert!(Bsn::parse(&changed).is_err());
        }
    }
}
