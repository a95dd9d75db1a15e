//! Abuse written as a sentence rather than with a listed word: a harm verb
//! aimed at "you", an insult noun after "you" and its adjectives, a group
//! of people with what hate says of groups, sexual demands, threats to
//! publish someone's address, urging someone to harm themselves.
//!
//! Each frame is a regex over words; insult nouns go through the phrase
//! pattern (look-alikes, masks, spaced letters) like listed words. A hit
//! is named by the frame (`threat`, `insult`, `hate`, `sexual`, `doxxing`,
//! `self-harm`). They come with the built-in list ([`super::Phrases::built_in`]),
//! so `default_list = false` turns them off too.
//!
//! Frames are written against the shapes of harassment, not against
//! particular messages: the in-house set's held-out part
//! (tests/fixtures/abuse) is never read to write them. Ordinary marketplace
//! language must pass: "this price is a killer", "a stupid little scratch",
//! "send your address so I can ship", "what happens to my deposit".

use super::word;

/// A word boundary (ASCII: fast on any text).
const B: &str = r"(?-u:\b)";

/// Between two words: blanks, and the punctuation of a sentence.
const GAP: &str = r"[\s,.\-_*!]+";

/// "I will", "I'm going to", "gonna": someone announcing what they do.
const WILL: &str = r"(?:i\s*(?:will|'ll|ll|am\s+going\s+to|'m\s+going\s+to|m\s+going\s+to|'m\s+gonna|m\s+gonna|am\s+gonna)|gonna|we\s*(?:will|'ll))";

/// Verbs of bodily harm.
const HARM: &str = r"(?:stab|shoot|hurt|beat|kill|punch|smash|strangle|murder|slap|choke|cut|break|burn|knife|batter|bash|kick)";

/// Parts of a body that threats name.
const BODY: &str = r"(?:legs?|neck|arms?|face|jaw|nose|bones|fingers|teeth|skull|head|kneecaps?)";

/// Where someone lives or works.
const PLACE: &str = r"(?:shop|house|home|place|door|work|store|flat|apartment|office|street)";

/// What someone threatening brings along.
const ARMED: &str = r"(?:(?:baseball[\s,.\-_*!]+)?bat|knife|gun|crowbar|hammer|machete|friends|brothers|mates|boys|guys|gang|cousins)";

/// Groups hate speaks of (plural).
const GROUPS: &str = r"(?:muslims|jews|christians|hindus|sikhs|arabs|blacks|whites|asians|africans|mexicans|latinos|gypsies|roma|immigrants|migrants|foreigners|refugees|gays|lesbians|trans\s+people|transgenders|women|girls|poles|romanians|bulgarians|albanians|russians|ukrainians|turks|kurds|chinese|indians|pakistanis|nigerians|somalis|syrians|moroccans|jewish\s+people|black\s+people|disabled\s+people|cripples)";

/// One of a group (singular), for "typical …", "dirty …": only words that
/// name people (not "black", "Indian", "Mexican": a typical Mexican dish,
/// a dirty black shoe).
const MEMBER: &str = r"(?:muslim|jew|gypsy|immigrant|migrant|foreigner|refugee|paki|chinaman|cripple|arab|romanian|albanian|turk)";

/// What hate says a group is.
const SLANDER: &str = r"(?:thieves|animals|scum|criminals|rats|parasites|vermin|subhuman|dirty|lazy|liars|filth|terrorists|rapists|scammers|cheats|stupid|the[\s,.\-_*!]+same)";

/// Adjectives of insults; the strong ones also insult without "you".
const ADJECTIVES: &str = r"(?:worthless|pathetic|stupid|fat|ugly|brain[\s\-]*dead|braindead|lying|dumb|useless|disgusting|filthy|dirty|lazy|miserable|sorry|old|little|greedy|retarded|cheating|thieving|scamming|incompetent|senile|smelly)";
const STRONG_ADJECTIVES: &str =
    r"(?:worthless|pathetic|stupid|brain[\s\-]*dead|braindead|disgusting|filthy|retarded)";

/// Nouns that only insult a person.
const NOUNS: &[&str] = &[
    "pig", "cow", "loser", "clown", "idiot", "moron", "scum", "trash", "rat", "bastard", "whore",
    "slut", "bitch", "jerk", "shit", "cunt", "dickhead", "prick", "twat", "wanker", "cripple",
    "retard", "freak", "creep", "parasite", "vermin", "imbecile", "dumbass", "asshole",
];

/// The frames: (name, regex source).
pub(super) fn frames() -> Vec<(&'static str, String)> {
    let nouns: Vec<String> = NOUNS.iter().map(|n| word(n)).collect();
    let noun = format!("(?:{})", nouns.join("|"));
    let you = r"(?:you|u|ya|youre|you're|ur)";
    let be = r"(?:\s+(?:are|r|is)|'re|re)?";
    vec![
        // "I will stab you", "I'm going to break your legs".
        (
            "threat",
            format!(
                r"{B}{WILL}{GAP}(?:(?-u:\w)+{GAP})?{HARM}{GAP}(?:you|u|ya|your{GAP}(?-u:\w)+){B}"
            ),
        ),
        ("threat", format!(r"{B}break{GAP}your{GAP}{BODY}{B}")),
        (
            "threat",
            format!(
                r"{B}(?:see|find{GAP}out|learn){GAP}what{GAP}(?:happens|will{GAP}happen){GAP}to{GAP}(?:your|sellers|people|scammers){B}"
            ),
        ),
        (
            "threat",
            format!(
                r"{B}(?:com(?:e|ing)|turn(?:ing)?{GAP}up|show(?:ing)?{GAP}up){GAP}(?:to|at|round{GAP}to|over{GAP}to){GAP}your{GAP}{PLACE}{GAP}with{GAP}(?:(?:a|an|my|some|the){GAP})?{ARMED}{B}"
            ),
        ),
        (
            "threat",
            format!(r"{B}ich{GAP}wei(?:ß|ss){GAP}wo{GAP}du{GAP}wohnst{B}"),
        ),
        (
            "threat",
            format!(r"{B}je{GAP}sais{GAP}o(?:ù|u){GAP}tu{GAP}(?:habites|vis){B}"),
        ),
        (
            "threat",
            format!(r"{B}s(?:é|e){GAP}d(?:ó|o)nde{GAP}vives{B}"),
        ),
        ("threat", format!(r"{B}so{GAP}dove{GAP}abiti{B}")),
        // "you fat ugly cow", "You are a worthless lying pig".
        (
            "insult",
            format!(
                r"{B}{you}{be}{GAP}(?:such{GAP})?(?:an?{GAP})?(?:{ADJECTIVES}{GAP}(?:and{GAP})?){{0,3}}{noun}{B}"
            ),
        ),
        (
            "insult",
            format!(r"{B}{STRONG_ADJECTIVES}{GAP}(?:{ADJECTIVES}{GAP})?{noun}{B}"),
        ),
        (
            "insult",
            format!(r"{B}go{GAP}{}{GAP}yourself{B}", word("fuck")),
        ),
        (
            "insult",
            format!(
                r"{B}(?:imb(?:é|e)cil|gilipollas|cabr(?:ó|o)n|hijo{GAP}de{GAP}puta|pendejo|connard|connasse|salope|encul(?:é|e)|arschloch|wichser|hurensohn|stronzo|vaffanculo|kurwa|klootzak|kutwijf){B}"
            ),
        ),
        // "All Muslims are thieves", "typical Jew", "Women should not be allowed".
        (
            "hate",
            format!(r"{B}(?:all{GAP})?{GROUPS}{GAP}are{GAP}(?:all{GAP})?{SLANDER}{B}"),
        ),
        ("hate", format!(r"{B}typical{GAP}{MEMBER}{B}")),
        (
            "hate",
            format!(
                r"{B}(?:{GROUPS}|you{GAP}people|people{GAP}like{GAP}you){GAP}should(?:{GAP}not|n't|nt){GAP}be{GAP}allowed{B}"
            ),
        ),
        (
            "hate",
            format!(
                r"{B}(?:{GROUPS}|you{GAP}people(?:{GAP}from{GAP}(?-u:\w)+)?){GAP}(?:all{GAP})?(?:steal|lie|cheat|scam)s?{GAP}(?:everything|all|always){B}"
            ),
        ),
        (
            "hate",
            format!(r"{B}(?:dirty|filthy|stupid){GAP}{MEMBER}s?{B}"),
        ),
        (
            "hate",
            format!(
                r"{B}(?:dreckige?[rns]?|scheiß|scheiss){GAP}(?:ausländer|auslaender|kanake|zigeuner|jude|türke|polacke){B}|{B}ausländer{GAP}raus{B}"
            ),
        ),
        // Sexual demands.
        (
            "sexual",
            format!(r"{B}pay{GAP}(?:me{GAP})?with{GAP}your{GAP}body{B}"),
        ),
        (
            "sexual",
            format!(
                r"{B}what(?:'s|s|{GAP}is){GAP}under{GAP}(?:that|your|the){GAP}(?:shirt|dress|skirt|top|clothes|blouse){B}"
            ),
        ),
        (
            "sexual",
            format!(r"{B}wearing{GAP}(?:only|nothing{GAP}but){GAP}(?:the|your|a|that){B}"),
        ),
        (
            "sexual",
            format!(
                r"{B}(?:send|show){GAP}(?:me{GAP})?(?:some{GAP})?(?:nudes|naked|your{GAP}(?:tits|boobs|body)){B}"
            ),
        ),
        (
            "sexual",
            format!(r"{B}(?:sleep|have{GAP}sex){GAP}with{GAP}me{B}"),
        ),
        (
            "sexual",
            format!(r"{B}(?:suck{GAP}my{GAP}(?:dick|cock|balls)|sit{GAP}on{GAP}my{GAP}face){B}"),
        ),
        (
            "sexual",
            format!(r"{B}(?:nice|great|show{GAP}me{GAP}your){GAP}(?:tits|boobs|ass){B}"),
        ),
        ("sexual", format!(r"{B}(?:dick|nude|naked){GAP}pics?{B}")),
        // "I don't sell to foreigners": refusing a group.
        (
            "hate",
            format!(
                r"{B}(?:i{GAP}|we{GAP})?(?:don't|dont|do{GAP}not|won't|wont|will{GAP}not|never){GAP}(?:sell|deal|do{GAP}business|talk|trade){GAP}(?:to|with){GAP}{GROUPS}{B}"
            ),
        ),
        (
            "doxxing",
            format!(
                r"{B}{WILL}{GAP}(?:tell|call|contact|write{GAP}to){GAP}your{GAP}(?:boss|employer|wife|husband|family|parents|kids){B}"
            ),
        ),
        (
            "self-harm",
            format!(
                r"{B}do{GAP}(?:us|everyone|the{GAP}world){GAP}a{GAP}favou?r{GAP}and{GAP}(?:die|disappear|kill){B}"
            ),
        ),
        // Threats to publish where someone lives.
        (
            "doxxing",
            format!(
                r"{B}{WILL}{GAP}(?:post|publish|leak|expose|spread|put){GAP}your{GAP}(?:home{GAP}|real{GAP}|private{GAP})?(?:address|phone{GAP}number|name|details|photos?){B}"
            ),
        ),
        (
            "doxxing",
            format!(
                r"{B}found{GAP}your{GAP}(?:real{GAP}name|home{GAP}address|address|kids|children|family|workplace|wife|husband){B}"
            ),
        ),
        (
            "doxxing",
            format!(r"{B}your{GAP}(?:kids|children)'?s?{GAP}school{B}"),
        ),
        // Urging someone to harm themselves.
        (
            "self-harm",
            format!(r"{B}(?:hang|shoot|drown|hurt|end){GAP}yourself{B}"),
        ),
        (
            "self-harm",
            format!(r"{B}nobody{GAP}would{GAP}miss{GAP}you{B}"),
        ),
        ("self-harm", format!(r"{B}go{GAP}(?:and{GAP})?die{B}")),
        ("self-harm", format!(r"{B}(?:drink|swallow){GAP}bleach{B}")),
        (
            "self-harm",
            format!(r"{B}jump{GAP}off{GAP}a{GAP}(?:bridge|cliff|building|roof){B}"),
        ),
        (
            "self-harm",
            format!(r"{B}end{GAP}your{GAP}(?:miserable{GAP})?life{B}"),
        ),
        (
            "self-harm",
            format!(r"{B}world{GAP}(?:would{GAP}be|is){GAP}better{GAP}without{GAP}you{B}"),
        ),
    ]
}
