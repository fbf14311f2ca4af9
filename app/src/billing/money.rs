//! Billing arithmetic, exact: rates in integer cents, prices in integer micro-dollars per
//! million tokens, costs in micro-dollars (`i128`, so 10^12 tokens at any allowed price fit
//! with room to spare). Rounding happens once, when a value is shown.

/// Micro-dollars in a cent.
pub const MICROS_PER_CENT: i128 = 10_000;

/// The cost of some usage, in micro-dollars, rounded half up to a whole micro-dollar:
/// `(input × input_price + output × output_price) / 1,000,000`.
pub fn cost_micros(
    input_tokens: u64,
    output_tokens: u64,
    input_price: u64,
    output_price: u64,
) -> i128 {
    let scaled =
        input_tokens as i128 * input_price as i128 + output_tokens as i128 * output_price as i128;
    (scaled + 500_000) / 1_000_000
}

/// Revenue of a month: each serving agent's override, else the org's default rate.
pub fn revenue_cents(default_rate: i64, agent_overrides: &[Option<i64>]) -> i64 {
    agent_overrides
        .iter()
        .map(|rate| rate.unwrap_or(default_rate))
        .sum()
}

/// The margin in hundredths of a percent, rounded half away from zero:
/// `(revenue − cost) / revenue × 100 %`. `None` when there is no revenue (shown as "—").
pub fn margin_basis_points(revenue_cents: i64, cost_micros: i128) -> Option<i64> {
    if revenue_cents <= 0 {
        return None;
    }
    let revenue = revenue_cents as i128 * MICROS_PER_CENT;
    let scaled = (revenue - cost_micros) * 10_000;
    let half = revenue / 2;
    let rounded = if scaled >= 0 {
        (scaled + half) / revenue
    } else {
        (scaled - half) / revenue
    };
    Some(rounded.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// "12.50%"-style text for a margin (a negative one "-50.00%", with an ASCII minus that
/// spreadsheets and scripts read), or "—".
pub fn format_margin(basis_points: Option<i64>) -> String {
    match basis_points {
        None => "—".to_string(),
        Some(bp) => {
            let sign = if bp < 0 { "-" } else { "" };
            let bp = bp.unsigned_abs();
            format!("{sign}{}.{:02}%", bp / 100, bp % 100)
        }
    }
}

/// "$1,234.56" for cents.
pub fn format_cents(cents: i64) -> String {
    format_micros(cents as i128 * MICROS_PER_CENT)
}

/// Dollars and cents for micro-dollars, rounded half up to the cent; an amount that is not
/// zero but rounds to it reads "< $0.01".
pub fn format_micros(micros: i128) -> String {
    let negative = micros < 0;
    let abs = micros.unsigned_abs();
    if abs > 0 && abs < 5_000 {
        return if negative {
            "> −$0.01".into()
        } else {
            "< $0.01".into()
        };
    }
    let cents = (abs + 5_000) / 10_000;
    let sign = if negative { "−" } else { "" };
    format!("{sign}${}.{:02}", group(cents / 100), cents % 100)
}

/// A price per million tokens, in dollars with up to six decimals ("$0.15", "$2.50").
pub fn format_price(micros: u64) -> String {
    let whole = micros / 1_000_000;
    let mut frac = format!("{:06}", micros % 1_000_000);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    format!("${}.{frac}", group(whole as u128))
}

/// Thousands separators: 1234567 → "1,234,567".
pub fn group(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Dollars as people type them ("50", "49.99", "$1,200.5") into integer units of
/// `10^-decimals` dollars; `Err` says what is wrong. Negative amounts are refused.
pub fn parse_dollars(text: &str, decimals: u32) -> Result<u64, String> {
    let cleaned: String = text
        .trim()
        .trim_start_matches('$')
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    if cleaned.is_empty() {
        return Err("Enter an amount in dollars, like 49.99.".into());
    }
    if cleaned.starts_with('-') {
        return Err("The amount cannot be negative.".into());
    }
    let (whole, frac) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err("Enter an amount in dollars, like 49.99.".into());
    }
    if frac.len() > decimals as usize {
        return Err(format!("Use at most {decimals} decimal places."));
    }
    let scale = 10u64.pow(decimals);
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| "The amount is too large.".to_string())?
    };
    let frac_units: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().unwrap_or(0) * 10u64.pow(decimals - frac.len() as u32)
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or_else(|| "The amount is too large.".to_string())
}

/// A CSV field, quoted when it needs to be.
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_have_known_answers() {
        // (input, output, input price, output price) → micro-dollars
        let cases: [(u64, u64, u64, u64, i128); 7] = [
            (0, 0, 2_500_000, 10_000_000, 0),
            // 1M in at $2.50 + 1M out at $10 = $12.50
            (1_000_000, 1_000_000, 2_500_000, 10_000_000, 12_500_000),
            // 1,500 in at $0.15/M = $0.000225
            (1_500, 0, 150_000, 600_000, 225),
            // 1 token at $0.15/M = 0.15 µ$, rounds to 0; 4 tokens = 0.6 → 1
            (1, 0, 150_000, 0, 0),
            (4, 0, 150_000, 0, 1),
            // 10^12 tokens each way at $15 and $75 per M: $15M + $75M, no overflow.
            (
                1_000_000_000_000,
                1_000_000_000_000,
                15_000_000,
                75_000_000,
                90_000_000_000_000,
            ),
            // The largest counts and prices the API and settings accept.
            (
                u64::MAX,
                u64::MAX,
                1_000_000_000_000,
                1_000_000_000_000,
                36_893_488_147_419_103_230_000_000,
            ),
        ];
        for (input, output, pin, pout, want) in cases {
            assert_eq!(
                cost_micros(input, output, pin, pout),
                want,
                "{input} {output} {pin} {pout}"
            );
        }
    }

    #[test]
    fn revenue_uses_overrides_over_the_default() {
        let cases: [(i64, &[Option<i64>], i64); 5] = [
            (5_000, &[], 0),
            (5_000, &[None, None, None], 15_000),
            (5_000, &[None, Some(7_500), None], 17_500),
            (5_000, &[Some(0), Some(0)], 0),
            (0, &[None, Some(12_345)], 12_345),
        ];
        for (default, overrides, want) in cases {
            assert_eq!(
                revenue_cents(default, overrides),
                want,
                "{default} {overrides:?}"
            );
        }
    }

    #[test]
    fn margins_have_known_answers_and_zero_revenue_has_none() {
        let cases: [(i64, i128, Option<i64>, &str); 8] = [
            (0, 0, None, "—"),
            (0, 12_500_000, None, "—"),
            // $100 revenue, $12.50 cost: 87.5 %
            (10_000, 12_500_000, Some(8_750), "87.50%"),
            (10_000, 0, Some(10_000), "100.00%"),
            (10_000, 100_000_000, Some(0), "0.00%"),
            // Cost above revenue: $50 revenue, $75 cost = −50 %
            (5_000, 75_000_000, Some(-5_000), "-50.00%"),
            // $3 revenue, $1 cost: 66.666… % rounds to 66.67 %
            (300, 1_000_000, Some(6_667), "66.67%"),
            // 10^12 tokens of cost against a small revenue: no overflow, deeply negative.
            (
                5_000,
                90_000_000_000_000,
                Some(-17_999_990_000),
                "-179999900.00%",
            ),
        ];
        for (revenue, cost, want, text) in cases {
            let got = margin_basis_points(revenue, cost);
            assert_eq!(got, want, "{revenue} {cost}");
            assert_eq!(format_margin(got), text);
        }
    }

    #[test]
    fn money_is_formatted_exactly() {
        assert_eq!(format_cents(0), "$0.00");
        assert_eq!(format_cents(123_456_789), "$1,234,567.89");
        assert_eq!(format_micros(12_500_000), "$12.50");
        assert_eq!(format_micros(225), "< $0.01");
        assert_eq!(format_micros(5_000), "$0.01");
        assert_eq!(format_micros(14_999), "$0.01");
        assert_eq!(format_micros(15_000), "$0.02");
        assert_eq!(format_micros(-75_000_000), "−$75.00");
        assert_eq!(format_price(150_000), "$0.15");
        assert_eq!(format_price(2_500_000), "$2.50");
        assert_eq!(format_price(75_000), "$0.075");
        assert_eq!(format_price(1_000_000_000_000), "$1,000,000.00");
    }

    #[test]
    fn dollars_parse_exactly_or_say_what_is_wrong() {
        let ok: [(&str, u32, u64); 7] = [
            ("50", 2, 5_000),
            ("49.99", 2, 4_999),
            ("$1,200.5", 2, 120_050),
            (".5", 2, 50),
            ("0.075", 6, 75_000),
            ("2.5", 6, 2_500_000),
            ("0", 2, 0),
        ];
        for (text, decimals, want) in ok {
            assert_eq!(parse_dollars(text, decimals), Ok(want), "{text}");
        }
        let bad: [(&str, u32, &str); 6] = [
            ("", 2, "Enter an amount"),
            ("-5", 2, "cannot be negative"),
            ("abc", 2, "Enter an amount"),
            ("1.234", 2, "at most 2 decimal places"),
            ("1.2.3", 2, "Enter an amount"),
            ("99999999999999999999", 2, "too large"),
        ];
        for (text, decimals, want) in bad {
            let err = parse_dollars(text, decimals).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("Sales Bot"), "Sales Bot");
        assert_eq!(csv_field("Bot, the \"best\""), "\"Bot, the \"\"best\"\"\"");
    }
}
