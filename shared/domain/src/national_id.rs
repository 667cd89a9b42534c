//! National identifiers (NRIC, FIN, other ids) of trainees: their kind, the
//! rules each kind follows, and a value that cannot be printed.
//!
//! A [`NationalId`] is personal data (DESIGN §6): it has no `Serialize` and
//! no `Display`, its `Debug` prints `NationalId(<redacted>)`, and parse
//! errors name the rule, never the value. It is shown only in its
//! [`masked`](NationalId::masked) form (`*****567D`) and read in full only
//! through [`expose`](NationalId::expose), by the encrypter and the
//! TPGateway payload builders.

crate::named_enum! {
    /// The kind of a national identifier, as our API names it; TPGateway's
    /// enrolment `idType.type` code is [`NationalIdType::tpg_code`]
    /// (API-NOTES §10).
    pub enum NationalIdType {
        /// A Singapore NRIC: S or T, 7 digits, a check letter.
        Nric,
        /// A foreign identification number: F, G or M, 7 digits, a check
        /// letter.
        Fin,
        /// Any other identifier (e.g. a passport number): 1 to 20 ASCII
        /// letters and digits.
        Others,
    }
}

impl NationalIdType {
    /// TPGateway's code for this kind (enrolment `idType.type`, assessment
    /// `trainee.idType`).
    pub fn tpg_code(self) -> &'static str {
        match self {
            NationalIdType::Nric => "NRIC",
            NationalIdType::Fin => "FIN",
            NationalIdType::Others => "OTHERS",
        }
    }
}

/// The most characters an id of kind `Others` may have (TPGateway's trainee
/// id is at most 20 characters).
pub const OTHERS_MAX_LEN: usize = 20;

/// Why an NRIC is refused.
pub const NRIC_FORM: &str = "must be an NRIC: S or T, 7 digits and the check letter";
/// Why a FIN is refused.
pub const FIN_FORM: &str = "must be a FIN: F, G or M, 7 digits and the check letter";
/// Why an NRIC or FIN with a well-formed but wrong check letter is refused.
pub const CHECK_LETTER_MISMATCH: &str = "has a check letter that does not match its digits";
/// Why an id of kind `Others` is refused.
pub const OTHERS_FORM: &str = "must be 1 to 20 letters (A-Z) and digits (0-9)";

/// A national identifier, normalized (spaces around it trimmed, ASCII
/// letters uppercased) and checked against the rules of its kind.
///
/// It has no `Serialize` and no `Display`, and `Debug` prints
/// `NationalId(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct NationalId(String);

impl NationalId {
    /// Checks `raw` against the rules of `kind`:
    ///
    /// - `Nric`: 9 characters, S or T, 7 digits, the check letter of
    ///   [`check_letter`];
    /// - `Fin`: 9 characters, F, G or M, 7 digits, the check letter of
    ///   [`check_letter`];
    /// - `Others`: 1 to [`OTHERS_MAX_LEN`] ASCII letters and digits.
    ///
    /// The error names the rule and never contains the value.
    pub fn parse(kind: NationalIdType, raw: &str) -> Result<NationalId, &'static str> {
        let v = raw.trim_matches(' ').to_ascii_uppercase();
        match kind {
            NationalIdType::Nric => check_nric_or_fin(&v, &['S', 'T'], NRIC_FORM)?,
            NationalIdType::Fin => check_nric_or_fin(&v, &['F', 'G', 'M'], FIN_FORM)?,
            NationalIdType::Others => {
                if v.is_empty()
                    || v.len() > OTHERS_MAX_LEN
                    || !v.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(OTHERS_FORM);
                }
            }
        }
        Ok(NationalId(v))
    }

    /// The full, normalized id: for the encrypter and the TPGateway payload
    /// builders only. Never log it, answer it or put it in an error.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The id for display: every character but the last four replaced by
    /// `*` (`S1234567D` gives `*****567D`); an id of four characters or
    /// fewer is all `*`.
    pub fn masked(&self) -> String {
        let n = self.0.chars().count();
        if n <= 4 {
            return "*".repeat(n);
        }
        self.0
            .chars()
            .enumerate()
            .map(|(i, c)| if i < n - 4 { '*' } else { c })
            .collect()
    }
}

impl std::fmt::Debug for NationalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NationalId(<redacted>)")
    }
}

/// Checks the shape (9 ASCII characters: one of `prefixes`, 7 digits, a
/// letter) and then the check letter of a normalized NRIC or FIN.
fn check_nric_or_fin(v: &str, prefixes: &[char], form: &'static str) -> Result<(), &'static str> {
    let b = v.as_bytes();
    if b.len() != 9 || !v.is_ascii() {
        return Err(form);
    }
    let prefix = char::from(b[0]);
    let digits = &v[1..8];
    let letter = char::from(b[8]);
    if !prefixes.contains(&prefix)
        || !digits.bytes().all(|d| d.is_ascii_digit())
        || !letter.is_ascii_uppercase()
    {
        return Err(form);
    }
    match check_letter(prefix, digits) {
        Some(expected) if expected == letter => Ok(()),
        Some(_) => Err(CHECK_LETTER_MISMATCH),
        None => Err(form),
    }
}

/// The check letter of an NRIC or FIN (API-NOTES §11): multiply the 7
/// digits by the weights 2, 7, 6, 5, 4, 3, 2 and sum; add 4 if the prefix is
/// T or G, 3 if M; r = sum mod 11; the letter is at index 10 − r of the
/// prefix's table: S/T `A B C D E F G H I Z J`, F/G `K L M N P Q R T U W X`,
/// M `K L J N P Q R T U W X`.
///
/// `None` unless `prefix` is one of the uppercase letters S, T, F, G, M and
/// `digits` is exactly 7 ASCII digits.
pub fn check_letter(prefix: char, digits: &str) -> Option<char> {
    const WEIGHTS: [u32; 7] = [2, 7, 6, 5, 4, 3, 2];
    const ST: [char; 11] = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'Z', 'J'];
    const FG: [char; 11] = ['K', 'L', 'M', 'N', 'P', 'Q', 'R', 'T', 'U', 'W', 'X'];
    const M: [char; 11] = ['K', 'L', 'J', 'N', 'P', 'Q', 'R', 'T', 'U', 'W', 'X'];
    let (offset, table) = match prefix {
        'S' => (0, &ST),
        'T' => (4, &ST),
        'F' => (0, &FG),
        'G' => (4, &FG),
        'M' => (3, &M),
        _ => return None,
    };
    let b = digits.as_bytes();
    if b.len() != WEIGHTS.len() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum::<u32>()
        + offset;
    let r = usize::try_from(sum % 11).ok()?;
    table.get(10 - r).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    fn nric(v: &str) -> Result<NationalId, &'static str> {
        NationalId::parse(NationalIdType::Nric, v)
    }

    fn fin(v: &str) -> Result<NationalId, &'static str> {
        NationalId::parse(NationalIdType::Fin, v)
    }

    fn others(v: &str) -> Result<NationalId, &'static str> {
        NationalId::parse(NationalIdType::Others, v)
    }

    #[test]
    fn kinds_have_json_names_and_tpgateway_codes() {
        let names: Vec<String> = NationalIdType::VARIANTS
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(names, ["\"nric\"", "\"fin\"", "\"others\""]);
        assert_eq!(NationalIdType::parse("fin"), Ok(NationalIdType::Fin));
        assert!(NationalIdType::parse("passport").is_err());
        assert_eq!(NationalIdType::Nric.tpg_code(), "NRIC");
        assert_eq!(NationalIdType::Fin.tpg_code(), "FIN");
        assert_eq!(NationalIdType::Others.tpg_code(), "OTHERS");
    }

    #[test]
    fn api_notes_example_ids_pass_the_checksum() {
        for id in ["S7020587D", "S0808315J", "S1449757I"] {
            assert_eq!(nric(id).unwrap().expose(), id);
        }
        assert_eq!(check_letter('S', "7020587"), Some('D'));
        assert_eq!(check_letter('S', "0808315"), Some('J'));
        assert_eq!(check_letter('S', "1449757"), Some('I'));
    }

    #[test]
    fn computed_ids_for_each_prefix() {
        // Checked against an independent implementation that indexes the
        // reversed tables by r.
        for id in [
            "S1234567D",
            "S0000000J",
            "S9876543C",
            "S2345678H",
            "T1234567J",
            "T0000000G",
            "T9876543Z",
            "T1000003Z",
            "T2345678D",
        ] {
            assert!(nric(id).is_ok(), "{id}");
            assert_eq!(fin(id).err(), Some(FIN_FORM), "{id}");
        }
        for id in [
            "F1234567N",
            "F0000000X",
            "F9876543M",
            "F2345678T",
            "G1234567X",
            "G0000000R",
            "G9876543W",
            "G2345678N",
            "M1234567K",
            "M0000000T",
            "M9876543X",
            "M2345678P",
            // r = 8, index 2: M in the F/G table, J in the M table
            "F1000003M",
            "M1000007J",
        ] {
            assert!(fin(id).is_ok(), "{id}");
            assert_eq!(nric(id).err(), Some(NRIC_FORM), "{id}");
        }
        assert_eq!(check_letter('F', "1000003"), Some('M'));
        assert_eq!(check_letter('F', "1000007"), Some('Q'));
        assert_eq!(check_letter('M', "1000007"), Some('J'));
    }

    #[test]
    fn check_letter_needs_a_known_prefix_and_seven_digits() {
        assert_eq!(check_letter('A', "1234567"), None);
        assert_eq!(check_letter('s', "1234567"), None);
        assert_eq!(check_letter('S', "123456"), None);
        assert_eq!(check_letter('S', "12345678"), None);
        assert_eq!(check_letter('S', "12345a7"), None);
        assert_eq!(check_letter('S', "１234567"), None);
    }

    #[test]
    fn a_wrong_check_letter_is_refused_without_the_value() {
        assert_eq!(nric("S1234567A").err(), Some(CHECK_LETTER_MISMATCH));
        assert_eq!(nric("S7020587E").err(), Some(CHECK_LETTER_MISMATCH));
        assert_eq!(fin("F1234567M").err(), Some(CHECK_LETTER_MISMATCH));
        assert_eq!(fin("M1000007M").err(), Some(CHECK_LETTER_MISMATCH));
        for e in [CHECK_LETTER_MISMATCH, NRIC_FORM, FIN_FORM, OTHERS_FORM] {
            assert!(!e.contains("1234567"), "{e}");
        }
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for bad in [
            "",
            "   ",
            "S123456D",
            "S12345678D",
            "S1234567",
            "1234567D",
            "A1234567D",
            "F1234567N",
            "S12345a7D",
            "S1234567 ",
            "S 1234567D",
            "S1234567-",
            "S1234567１",
            "Ｓ1234567D",
            "S1234567D\n",
        ] {
            assert_eq!(nric(bad).err(), Some(NRIC_FORM), "{bad:?}");
        }
        assert_eq!(fin("S1234567D").err(), Some(FIN_FORM));
        assert_eq!(fin("F123456N").err(), Some(FIN_FORM));
    }

    #[test]
    fn lowercase_is_uppercased_and_spaces_trimmed() {
        assert_eq!(nric("s1234567d").unwrap().expose(), "S1234567D");
        assert_eq!(nric("  S1234567D ").unwrap().expose(), "S1234567D");
        assert_eq!(fin(" m1234567k").unwrap().expose(), "M1234567K");
        assert_eq!(others(" e1234567x ").unwrap().expose(), "E1234567X");
        assert_eq!(nric(" s1234567d "), nric("S1234567D"));
    }

    #[test]
    fn others_rules() {
        assert_eq!(others("A").unwrap().expose(), "A");
        assert_eq!(others("K12345678").unwrap().expose(), "K12345678");
        let twenty = "AB345678901234567890";
        assert_eq!(others(twenty).unwrap().expose(), twenty);
        for bad in [
            "",
            "   ",
            "AB3456789012345678901",
            "E 1234567",
            "E-1234567",
            "E1234567/",
            "É1234567",
            "E1234567\t",
        ] {
            assert_eq!(others(bad).err(), Some(OTHERS_FORM), "{bad:?}");
        }
        // An NRIC-shaped value with a wrong letter is fine as another kind.
        assert!(others("S1234567A").is_ok());
    }

    #[test]
    fn masking_keeps_the_last_four() {
        assert_eq!(nric("S1234567D").unwrap().masked(), "*****567D");
        assert_eq!(nric("S7020587D").unwrap().masked(), "*****587D");
        assert_eq!(others("ABCDE").unwrap().masked(), "*BCDE");
        assert_eq!(others("ABCD").unwrap().masked(), "****");
        assert_eq!(others("AB").unwrap().masked(), "**");
        assert_eq!(others("A").unwrap().masked(), "*");
    }

    #[test]
    fn debug_is_redacted() {
        let id = nric("S1234567D").unwrap();
        assert_eq!(format!("{id:?}"), "NationalId(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(id.clone())),
            "Some(NationalId(<redacted>))"
        );
        assert_eq!(format!("{:#?}", id), "NationalId(<redacted>)");
    }
}
