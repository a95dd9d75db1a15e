use super::*;

fn hits(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    detect(text, &mut hits);
    for h in &hits {
        assert!(h.start < h.end && h.end <= text.len(), "{h:?} in {text:?}");
        assert!(text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
        assert_eq!(h.category, Category::Payment);
    }
    hits
}

/// The rules hit in `text`, sorted, each with its span's text.
fn rules(text: &str) -> Vec<(&'static str, String)> {
    let mut found: Vec<_> = hits(text)
        .into_iter()
        .map(|h| (h.rule, text[h.start..h.end].to_string()))
        .collect();
    found.sort();
    found
}

#[track_caller]
fn has(text: &str, rule: &str, span: &str) {
    let found = rules(text);
    assert!(
        found.iter().any(|(r, s)| *r == rule && s == span),
        "{text:?}: {found:?}"
    );
}

#[test]
fn each_rule() {
    has(
        "pay me through PayPal friends and family",
        "paypal_ff",
        "pay me through PayPal friends and family",
    );
    has(
        "PayPal friends and family",
        "paypal_ff",
        "PayPal friends and family",
    );
    has("F&F only please", "paypal_ff", "F&F");
    has("send it as a gift on paypal", "paypal_ff", "gift on paypal");
    has("paypal gift and I ship today", "paypal_ff", "paypal gift");
    has("Venmo me @Sarah-Collins-12", "venmo", "Venmo");
    has("Zelle works best for me", "zelle", "Zelle");
    has(
        "I accept Cash App, my cashtag is $tomsdeals",
        "cashapp",
        "Cash App",
    );
    has(
        "I accept Cash App, my cashtag is $tomsdeals",
        "cashapp",
        "$tomsdeals",
    );
    has("do a wire transfer", "wire_transfer", "wire transfer");
    has(
        "a bank transfer is fine, or SEPA transfer",
        "wire_transfer",
        "bank transfer",
    );
    has("just wire me the money", "wire_transfer", "wire me");
    has(
        "IBAN DE89 3704 0044 0532 0130 00 thanks",
        "iban",
        "DE89 3704 0044 0532 0130 00",
    );
    has("IBAN DE89 3704 0044 0532 0130 00 thanks", "iban", "IBAN");
    has(
        "routing number 021000021 account number 12345678",
        "iban",
        "routing number",
    );
    has("pay by western union", "western_union", "western union");
    has("MoneyGram is ok", "moneygram", "MoneyGram");
    has("buy me a Steam gift card", "gift_card", "Steam gift card");
    has("iTunes cards accepted", "gift_card", "iTunes cards");
    has("I'll take bitcoin or USDT", "crypto", "bitcoin");
    has("I'll take bitcoin or USDT", "crypto", "USDT");
    has(
        "send to bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
        "crypto_address",
        "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
    );
    has(
        "eth 0x52908400098527886E0F7030069857D2E4169EE7",
        "crypto_address",
        "0x52908400098527886E0F7030069857D2E4169EE7",
    );
    has(
        "we can settle this off the site",
        "off_platform",
        "off the site",
    );
    has("buy it outside ebay", "off_platform", "buy it outside");
    has(
        "we can talk outside of ebay",
        "off_platform",
        "outside of ebay",
    );
    has(
        "let's skip the auction fees",
        "off_platform",
        "skip the auction fees",
    );
    has("to avoid the fees", "off_platform", "avoid the fees");
    has("we could deal directly", "off_platform", "deal directly");
    has(
        "if you cancel your bid I'll sell it to you privately",
        "off_platform",
        "cancel your bid",
    );
    has(
        "if you cancel your bid I'll sell it to you privately",
        "off_platform",
        "sell it to you privately",
    );
}

#[test]
fn values() {
    let h = hits("IBAN: DE89370400440532013000");
    let iban = h.iter().find(|h| !h.value.is_empty()).expect("an IBAN");
    assert_eq!(iban.value, "DE89370400440532013000");
    let h = hits("my $TomsDeals");
    assert_eq!(h[0].value, "$tomsdeals");
}

#[test]
fn clean_messages() {
    for text in [
        "I paid with PayPal through the site this morning.",
        "Can I pay with the card on file through checkout?",
        "The price is $450, or $1,200 with the frame; $USD only.",
        "My friends and family loved the lamp!",
        "You can save the shipping fee if you pick it up.",
        "Can we avoid the delivery fees by collecting?",
        "The site visit is on Friday, pickup at the site entrance.",
        "Is the seller's fee included? What are the fees?",
        "Serial SN884211773 and DE12 3456 7890 1234 5678 00 (no valid account).",
        "I bought a gift for my mother.",
        "Look at the website for details.",
        "Order 2024-118-5530 says shipped.",
    ] {
        let found = rules(text);
        assert!(found.is_empty(), "{text:?}: {found:?}");
    }
}

#[test]
fn spans_around_non_ascii() {
    let text = "Größe passt — zahl per Überweisung? Nein: Western Union 😀 und bitcoin.";
    let found = rules(text);
    assert_eq!(
        found,
        [
            ("crypto", "bitcoin".to_string()),
            ("western_union", "Western Union".to_string()),
            ("wire_transfer", "Überweisung".to_string())
        ]
    );
}

#[test]
fn no_panic_on_odd_input() {
    let pieces = [
        "$", "a", "F&F", "&", " ", "ü", "😀", "\u{0301}", "DE89", "3704", "bc1", "0x", "zelle",
        "off the", "\n", "İ", "ﬃ", "pay", "pal", "fees", "K",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..400 {
        let mut text = String::new();
        for _ in 0..(seed % 60) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        hits(&text);
    }
    hits(&"zelle venmo $tag ".repeat(10_000));
    hits(&"1".repeat(100_000));
}

#[test]
fn payment_apps_of_other_countries() {
    has("zahlst du per Twint?", "payment_app", "Twint");
    has("te mando un Bizum ahora", "payment_app", "Bizum");
    has("Vipps meg beløpet", "payment_app", "Vipps");
    has("MobilePay works for me", "payment_app", "MobilePay");
    has("send it through Wise please", "payment_app", "Wise");
    has("je t'envoie une demande Lydia", "payment_app", "Lydia");
    has("zapłać przez BLIK", "payment_app", "BLIK");
    for text in [
        "a wise choice, the lamp is lovely",
        "Lydia from the shop packed it",
        "more pix of the sofa in the listing",
        "I paid with my Revolut card at checkout",
        "Does the checkout accept Apple Pay?",
    ] {
        let found = rules(text);
        assert!(found.is_empty(), "{text:?}: {found:?}");
    }
}

#[test]
fn other_languages() {
    has("PayPal entre amis svp", "paypal_ff", "PayPal entre amis");
    has(
        "paga con PayPal amici e parenti",
        "paypal_ff",
        "PayPal amici",
    );
    has(
        "amici e parenti su PayPal",
        "paypal_ff",
        "amici e parenti su PayPal",
    );
    has("per PayPal Freunde bitte", "paypal_ff", "PayPal Freunde");
    has("virement ou chèque", "wire_transfer", "virement");
    has("faccio un bonifico domani", "wire_transfer", "bonifico");
    has("per Überweisung geht", "wire_transfer", "Überweisung");
    has(
        "message me your bank details",
        "wire_transfer",
        "message me your bank details",
    );
    has(
        "so sparen wir beide die Gebühren",
        "off_platform",
        "sparen wir beide die Gebühren",
    );
    has(
        "zo besparen we de servicekosten",
        "off_platform",
        "besparen we de servicekosten",
    );
    has(
        "así evitamos las comisiones",
        "off_platform",
        "evitamos las comisiones",
    );
    has(
        "págame directamente por favor",
        "off_platform",
        "págame directamente",
    );
    has("pagamento fuori dal sito", "off_platform", "fuori dal sito");
}

#[test]
fn refusals_and_stories_are_no_hits() {
    for text in [
        "I won't pay outside the app, sorry.",
        "I will never use gift cards for this.",
        "Some sellers ask to deal directly, but I use the checkout.",
        "Someone asked me for a bank transfer, I reported it.",
        "I have a £10 gift card from the platform, can I use it?",
    ] {
        let found = rules(text);
        assert!(found.is_empty(), "{text:?}: {found:?}");
    }
    // A refusal of one thing and an offer of another; a detail stays.
    has("no PayPal, but Zelle works", "zelle", "Zelle");
    has(
        "why don't we deal directly",
        "off_platform",
        "deal directly",
    );
    has(
        "someone told me to send IBAN NL91 ABNA 0417 1643 00",
        "iban",
        "NL91 ABNA 0417 1643 00",
    );
}

#[test]
fn ibans_have_their_country_length() {
    has(
        "konto PL61 1090 1014 0000 0712 1981 2874",
        "iban",
        "PL61 1090 1014 0000 0712 1981 2874",
    );
    has(
        "SE4550000000058398257466",
        "iban",
        "SE4550000000058398257466",
    );
    for text in [
        "tracking RR123456785SE is in transit",
        "parcel JD014600003SE arrived",
        "ref XX12 3456 7890 1234",
    ] {
        let found = rules(text);
        assert!(found.is_empty(), "{text:?}: {found:?}");
    }
}
