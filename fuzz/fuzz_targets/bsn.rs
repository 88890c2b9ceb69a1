//! The BSN parser (`domain::Bsn::parse`): a BSN arrives as GraphQL input (`residentByBsn`,
//! `registerResident`) and from the CLI. Whatever the text, the parser answers, never panics, and
//! what it accepts is nine ASCII digits that pass the 11-proef.

#![no_main]

use domain::Bsn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Requests carry text; bytes that are not UTF-8 never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = std::hint::black_box(Bsn::parse(std::hint::black_box(text)));
    if let Ok(bsn) = parsed {
        let digits = bsn.expose().as_bytes();
        assert_eq!(digits.len(), 9, "a Bsn is nine digits");
        assert!(
            digits.iter().all(u8::is_ascii_digit),
            "a Bsn is digits only"
        );
        let sum: i64 = digits
            .iter()
            .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
            .map(|(digit, weight)| i64::from(digit - b'0') * weight)
            .sum();
        assert!(sum > 0 && sum % 11 == 0, "a Bsn passes the 11-proef");
        assert_eq!(
            format!("{bsn:?}"),
            "Bsn(***)",
            "Debug never shows the digits"
        );
    }
});
