//! WordPiece encoding, one text at a time on one thread: distil's [`Tokenizer::encode`] against
//! Hugging Face's `tokenizers` crate running BERT's pipeline from the same `vocab.txt` (issue 4:
//! distil at 2× its throughput, same ids). Throughput is in bytes of input text.
//!
//! Two vocabularies: the cased fixture (`tests/fixtures/models/distilbert-cased/vocab.txt`, 1,906
//! tokens, no lowercasing) and the real uncased one of all-MiniLM-L6-v2
//! (`weights/all-MiniLM-L6-v2/vocab.txt`, 30,522 tokens; `bash weights/fetch-minilm.sh`, skipped
//! with a note if absent). Two corpora, made here from a fixed seed, one document per string:
//!
//! * `english`: about 3 MB of generated English prose (one to a dozen sentences a document:
//!   names, numbers, prices, dates, quotes, contractions, hyphens, some long rare words), with the
//!   English texts of `tests/fixtures/corpus.json` and `forward.json` mixed in, some of them varied.
//! * `multilingual`: about 2 MB of harder text: accented European prose, Greek, Cyrillic, runs of
//!   CJK ideographs, kana, Hangul, Arabic, Devanagari, emoji (with modifiers and ZWJ sequences),
//!   fullwidth forms, symbols, odd whitespace, and every text of `corpus.json` as it is.
//!
//! Before timing, every document of both corpora is encoded by both tokenizers and the ids (and
//! byte offsets) must be identical; the bench panics otherwise. The ids of our Hugging Face
//! pipeline are also checked against MiniLM's own `tokenizer.json` (truncation and padding off).
//!
//! `TOKENIZER_BENCH_DUMP=DIR` writes each corpus to `DIR/{english,multilingual}.json` (a list of
//! strings), to run other tokenizers on the same texts.
//!
//! Names: `"tokenize/distil", "minilm-uncased/english"` and `"tokenize/hf-tokenizers", …`; each
//! pair runs back to back. `cargo bench --bench tokenizer -- --warm-up-time 1 --measurement-time 3`;
//! `-- english` picks one corpus.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use distil::tokenizer::Tokenizer;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::AddedToken;

type HfTokenizer = tokenizers::Tokenizer;

/// Target sizes of the corpora, in bytes.
const ENGLISH_BYTES: usize = 3_000_000;
const MULTILINGUAL_BYTES: usize = 2_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A xorshift64* generator: the corpora are the same on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// Any item, uniformly.
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// An item skewed towards the front of the list (index ∝ u²), as word frequencies are.
    fn common<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let u = self.below(1 << 16);
        items[(u * u * items.len()) >> 32]
    }
}

// ---- English ----

#[rustfmt::skip]
const DETERMINERS: &[&str] = &[
    "the", "a", "this", "that", "every", "some", "our", "their", "its", "his", "her", "no", "one",
    "another", "each", "my", "your",
];
#[rustfmt::skip]
const ADJECTIVES: &[&str] = &[
    "new", "old", "small", "large", "good", "long", "great", "little", "young", "important",
    "different", "local", "public", "early", "whole", "certain", "real", "best", "free", "strong",
    "quiet", "famous", "simple", "common", "recent", "modern", "ancient", "beautiful", "narrow",
    "bright", "dark", "heavy", "careful", "difficult", "strange", "wooden", "northern", "rural",
    "economic", "political", "national", "international", "medical", "scientific", "digital",
    "remarkable", "unexpected", "comprehensive", "sustainable", "well-known", "state-of-the-art",
    "underestimated", "multidisciplinary", "semiconducting", "photogenic", "bioluminescent",
];
/// Countable nouns; [`plural`] spells their plurals.
#[rustfmt::skip]
const NOUNS: &[&str] = &[
    "time", "year", "way", "day", "man", "woman", "child", "person", "world", "life", "hand",
    "part", "place", "case", "week", "company", "system", "program", "question", "government",
    "number", "night", "point", "home", "room", "mother", "area", "story", "fact", "month",
    "book", "river", "city", "village", "bridge", "garden", "library", "museum", "school",
    "student", "teacher", "doctor", "market", "station", "mountain", "island", "forest", "report",
    "letter", "meeting", "council", "committee", "engineer", "scientist", "researcher", "farmer",
    "painter", "musician", "language", "harvest", "railway", "harbour", "festival", "election",
    "algorithm", "database", "network", "processor", "embedding", "transformer", "experiment",
    "hypothesis", "box", "church", "bus", "quasicrystal", "counterargument", "misunderstanding",
    "microarchitecture", "floopgarbinator",
];
/// Mass nouns: never plural.
#[rustfmt::skip]
const MASS_NOUNS: &[&str] = &[
    "water", "money", "music", "weather", "history", "information", "mathematics", "science",
    "pottery", "migration", "software", "hardware", "economy", "tokenization", "photosynthesis",
    "thermodynamics", "electroencephalography", "cryptocurrency", "internationalization",
    "incomprehensibility", "zygomorphy",
];
/// Verbs as (base form, past tense).
#[rustfmt::skip]
const VERBS: &[(&str, &str)] = &[
    ("see", "saw"), ("make", "made"), ("find", "found"), ("take", "took"), ("give", "gave"),
    ("tell", "told"), ("build", "built"), ("write", "wrote"), ("read", "read"),
    ("visit", "visited"), ("open", "opened"), ("close", "closed"), ("move", "moved"),
    ("change", "changed"), ("follow", "followed"), ("describe", "described"),
    ("publish", "published"), ("discover", "discovered"), ("cross", "crossed"),
    ("repair", "repaired"), ("paint", "painted"), ("study", "studied"), ("measure", "measured"),
    ("announce", "announced"), ("reject", "rejected"), ("approve", "approved"),
    ("review", "reviewed"), ("organize", "organized"), ("celebrate", "celebrated"),
    ("protect", "protected"), ("question", "questioned"), ("explain", "explained"),
    ("remember", "remembered"), ("ignore", "ignored"), ("photograph", "photographed"),
    ("reorganize", "reorganized"), ("misinterpret", "misinterpreted"),
    ("overestimate", "overestimated"), ("decommission", "decommissioned"),
];
#[rustfmt::skip]
const ADVERBS: &[&str] = &[
    "quickly", "slowly", "finally", "already", "never", "often", "quietly", "carefully",
    "suddenly", "eventually", "reluctantly", "unbelievably", "surprisingly", "almost", "still",
];
#[rustfmt::skip]
const PREPOSITIONS: &[&str] = &[
    "in", "on", "at", "near", "with", "without", "from", "to", "after", "before", "during",
    "behind", "across", "under", "over", "beside", "through", "about", "for", "against",
];
#[rustfmt::skip]
const CONJUNCTIONS: &[&str] = &[
    "and", "but", "because", "while", "although", "so", "when", "after", "before", "since",
    "unless", "whereas",
];
#[rustfmt::skip]
const NAMES: &[&str] = &[
    "Paris", "London", "Lisbon", "Vienna", "Boston", "Chicago", "Toronto", "Sydney", "Mumbai",
    "Brightwater", "Oakridge", "Alice", "Bob", "Wilhelmina Thornbury", "Dr. Patel", "Mr. Lee",
    "Ms. O'Neil", "the United Nations", "NASA", "the BBC", "Microsoft", "the U.S.", "Google",
    "Professor McAllister", "Mount Kilimanjaro", "the Mississippi", "Elizabeth", "Jonathan",
    "Kowalczyk", "Nakamura",
];
#[rustfmt::skip]
const INTROS: &[&str] = &[
    "However,", "In 1887,", "Last week,", "According to the report,", "Meanwhile,",
    "For example,", "In other words,", "At first,", "Unfortunately,", "As expected,",
    "On Monday,", "By 2030,", "Nevertheless,", "Surprisingly,",
];
/// Negated auxiliaries, which take a verb's base form.
#[rustfmt::skip]
const NEGATIONS: &[&str] = &[
    "didn't", "couldn't", "won't", "can't", "wouldn't", "doesn't", "shouldn't", "mustn't",
];
#[rustfmt::skip]
const MONTHS: &[&str] = &[
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
];

fn plural(noun: &str) -> String {
    match noun {
        "man" => "men".into(),
        "woman" => "women".into(),
        "child" => "children".into(),
        "person" => "people".into(),
        "life" => "lives".into(),
        "hypothesis" => "hypotheses".into(),
        _ if noun.ends_with("s") || noun.ends_with("x") || noun.ends_with("ch") => {
            format!("{noun}es")
        }
        _ if noun.ends_with('y') && !noun.ends_with("ay") && !noun.ends_with("ey") => {
            format!("{}ies", &noun[..noun.len() - 1])
        }
        _ => format!("{noun}s"),
    }
}

fn noun_phrase(r: &mut Rng, out: &mut String) {
    if r.chance(15) {
        out.push_str(r.pick(NAMES));
        return;
    }
    let adjective = r.chance(45).then(|| r.common(ADJECTIVES));
    let (noun, countable) = if r.chance(80) {
        (r.common(NOUNS).to_string(), true)
    } else {
        (r.common(MASS_NOUNS).to_string(), false)
    };
    let noun = if countable && r.chance(25) {
        // A plural takes "the", "some", "their", … but not "a", "every", "one".
        out.push_str(r.pick(&[
            "the", "some", "our", "their", "these", "many", "most", "its",
        ]));
        plural(&noun)
    } else {
        let determiner = r.common(DETERMINERS);
        let next = adjective.unwrap_or(&noun);
        if determiner == "a" && next.starts_with(['a', 'e', 'i', 'o', 'u']) {
            out.push_str("an");
        } else {
            out.push_str(determiner);
        }
        noun
    };
    out.push(' ');
    if let Some(adjective) = adjective {
        out.push_str(adjective);
        out.push(' ');
    }
    out.push_str(&noun);
}

/// A number as prose has them: years, counts, prices, percentages, dates, decimals.
fn number(r: &mut Rng, out: &mut String) {
    match r.below(7) {
        0 => out.push_str(&format!("{}", 1800 + r.below(230))),
        1 => out.push_str(&format!("{}", r.below(100))),
        2 => out.push_str(&format!("${}.{:02}", r.below(2000), r.below(100))),
        3 => out.push_str(&format!("{}.{}%", r.below(100), r.below(10))),
        4 => out.push_str(&format!(
            "{} {}, {}",
            r.pick(MONTHS),
            1 + r.below(28),
            1950 + r.below(80)
        )),
        5 => out.push_str(&format!("{},{:03}", 1 + r.below(999), r.below(1000))),
        _ => out.push_str(&format!("{} km", 1 + r.below(500))),
    }
}

fn clause(r: &mut Rng, out: &mut String) {
    noun_phrase(r, out);
    out.push(' ');
    let (base, past) = VERBS[r.below(VERBS.len())];
    if r.chance(10) {
        out.push_str(r.pick(NEGATIONS));
        out.push(' ');
        out.push_str(base);
    } else {
        if r.chance(15) {
            out.push_str(r.common(ADVERBS));
            out.push(' ');
        }
        out.push_str(past);
    }
    out.push(' ');
    noun_phrase(r, out);
    if r.chance(50) {
        out.push(' ');
        out.push_str(r.common(PREPOSITIONS));
        out.push(' ');
        if r.chance(20) {
            number(r, out);
        } else {
            noun_phrase(r, out);
        }
    }
    if r.chance(10) {
        out.push_str(" (");
        number(r, out);
        out.push(')');
    }
}

/// Upper-cases the first letter at or after byte `from`.
fn capitalize_first(s: &mut String, from: usize) {
    if let Some((i, c)) = s[from..].char_indices().find(|(_, c)| c.is_alphabetic()) {
        let upper: String = c.to_uppercase().collect();
        s.replace_range(from + i..from + i + c.len_utf8(), &upper);
    }
}

fn english_sentence(r: &mut Rng, out: &mut String) {
    let start = out.len();
    let quoted = r.chance(6);
    if quoted {
        out.push('"');
    } else if r.chance(20) {
        out.push_str(r.pick(INTROS));
        out.push(' ');
    }
    clause(r, out);
    for _ in 0..r.below(3) {
        if r.chance(50) {
            out.push(',');
        }
        out.push(' ');
        out.push_str(r.common(CONJUNCTIONS));
        out.push(' ');
        clause(r, out);
    }
    if r.chance(5) {
        out.push_str(" - see https://example.org/");
        out.push_str(r.common(NOUNS));
        out.push_str(&format!("?id={}", r.below(10_000)));
    }
    out.push_str(match r.below(20) {
        0 => "?",
        1 => "!",
        2 => "...",
        _ => ".",
    });
    if quoted {
        out.push_str("\" she said.");
    }
    capitalize_first(out, start);
    if r.chance(2) {
        // A shouted headline: all caps.
        let upper = out[start..].to_uppercase();
        out.replace_range(start.., &upper);
    }
}

/// One English document: mostly a sentence or two, sometimes a paragraph, sometimes a fixture
/// text as it is or with a generated sentence added.
fn english_document(r: &mut Rng, fixtures: &[String], out: &mut String) {
    if r.chance(5) {
        out.push_str(&fixtures[r.below(fixtures.len())]);
        if r.chance(50) {
            out.push(' ');
            english_sentence(r, out);
        }
        return;
    }
    let sentences = match r.below(10) {
        0..=3 => 1,
        4..=6 => 2,
        7 | 8 => 3 + r.below(3),
        _ => 6 + r.below(7),
    };
    for i in 0..sentences {
        if i > 0 {
            out.push(' ');
        }
        english_sentence(r, out);
    }
}

// ---- Multilingual ----

#[rustfmt::skip]
const FRENCH: &[&str] = &[
    "le", "la", "les", "et", "à", "été", "café", "élève", "garçon", "naïve", "cœur", "Noël",
    "très", "déjà", "où", "première", "fenêtre", "château", "forêt", "hôpital", "crème", "brûlée",
    "bientôt", "Ça", "français", "réunion", "économie", "société", "qu'il", "l'église",
];
#[rustfmt::skip]
const GERMAN: &[&str] = &[
    "der", "die", "das", "und", "über", "Straße", "Mädchen", "Fußgänger", "schön", "Größe",
    "Grüße", "Bücher", "Zürich", "München", "Kühlschrank", "Geschwindigkeitsbegrenzung",
    "Donaudampfschifffahrt", "ärgerlich", "Ölfass", "Übersetzung",
];
#[rustfmt::skip]
const SPANISH: &[&str] = &[
    "el", "la", "y", "mañana", "niño", "señora", "año", "corazón", "canción", "está", "también",
    "¿Qué", "pasa?", "¡Hola!", "São", "Paulo", "informação", "coração", "não", "você",
];
#[rustfmt::skip]
const OTHER_LATIN: &[&str] = &[
    "Łódź", "Dvořák", "Kraków", "Ångström", "Malmö", "Reykjavík", "İstanbul", "Iğdır", "ǅemal",
    "Ærø", "Øresund", "ﬁnance", "Ωmega", "Škoda", "Čapek", "Bucureşti", "Hà Nội", "Tiếng Việt",
];
#[rustfmt::skip]
const GREEK: &[&str] = &[
    "Γειά", "σου", "Κόσμε", "η", "Αθήνα", "είναι", "πρωτεύουσα", "της", "Ελλάδας", "ΟΔΥΣΣΕΥΣ",
    "φιλοσοφία", "ἀρχή", "λόγος",
];
#[rustfmt::skip]
const CYRILLIC: &[&str] = &[
    "Привет", "мир", "Москва", "столица", "России", "ЁЛКА", "ёлка", "Київ", "рідна", "мова",
    "България", "Добро", "утро", "электричество",
];
#[rustfmt::skip]
const ARABIC_HEBREW_INDIC_THAI: &[&str] = &[
    "مرحبا", "بالعالم", "القاهرة", "عاصمة", "مصر", "שלום", "עולם", "नमस्ते", "दुनिया", "हिन्दी",
    "भाषा", "สวัสดีชาวโลก", "ภาษาไทย", "বাংলা", "தமிழ்",
];
/// Common Han characters, and a few outside the BMP or in the compatibility block.
const HAN: &str = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自\
    着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本\
    见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者\
    東京都語字豈𠀀𠀁";
#[rustfmt::skip]
const JAPANESE: &[&str] = &[
    "東京タワー", "日本語のテキスト", "カタカナ", "ひらがな", "こんにちは", "ありがとう", "です。",
    "ラーメン", "すし", "テスト",
];
#[rustfmt::skip]
const KOREAN: &[&str] = &["한국어", "텍스트입니다", "서울", "안녕하세요", "감사합니다", "대한민국"];
#[rustfmt::skip]
const EMOJI: &[&str] = &[
    "😀", "👍", "👍🏽", "❤️", "🎉", "🚀", "✨", "🇫🇷", "🇯🇵", "👨‍👩‍👧‍👦", "1️⃣", "🙂", "🤖", "☕",
];
#[rustfmt::skip]
const SYMBOLS: &[&str] = &[
    "—", "–", "…", "«", "»", "“", "”", "‘", "’", "€", "£", "¥", "°C", "±", "×", "÷", "≤", "≠",
    "∞", "√", "∑", "²", "³", "½", "Ⅳ", "⑤", "ＡＢＣ", "１２３", "§", "©", "®", "™", "•", "→",
];
/// Odd whitespace and invisible chars that the normalizer cleans or turns into spaces.
#[rustfmt::skip]
const ODD_SPACES: &[&str] = &[
    "\u{A0}", "\u{3000}", "\t", "\u{200B}", "\u{2028}", "\u{AD}", "\r\n", "\u{FEFF}",
];

fn han_run(r: &mut Rng, out: &mut String) {
    let chars: Vec<char> = HAN.chars().filter(|c| !c.is_whitespace()).collect();
    for _ in 0..2 + r.below(10) {
        out.push(chars[r.below(chars.len())]);
    }
    if r.chance(40) {
        out.push(if r.chance(50) { '。' } else { '，' });
    }
}

fn words(r: &mut Rng, pool: &[&str], n: usize, out: &mut String) {
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(r.pick(pool));
    }
}

/// One hard sentence: a language picked at random, with English glue, symbols and emoji.
fn multilingual_sentence(r: &mut Rng, out: &mut String) {
    let n = 4 + r.below(10);
    match r.below(10) {
        0 => words(r, FRENCH, n, out),
        1 => words(r, GERMAN, n, out),
        2 => words(r, SPANISH, n, out),
        3 => words(r, GREEK, n, out),
        4 => words(r, CYRILLIC, n, out),
        5 => words(r, ARABIC_HEBREW_INDIC_THAI, n, out),
        6 => {
            for _ in 0..1 + r.below(3) {
                han_run(r, out);
            }
        }
        7 => {
            let (ja, ko) = (1 + r.below(3), 1 + r.below(3));
            words(r, JAPANESE, ja, out);
            out.push(' ');
            words(r, KOREAN, ko, out);
        }
        8 => {
            // English with foreign names, in the manner of corpus.json's last lines.
            english_sentence(r, out);
            out.push(' ');
            let names = 1 + r.below(3);
            words(r, OTHER_LATIN, names, out);
        }
        _ => {
            english_sentence(r, out);
            out.push(' ');
            han_run(r, out);
        }
    }
    if r.chance(30) {
        out.push(' ');
        out.push_str(r.pick(EMOJI));
    }
    if r.chance(30) {
        out.push(' ');
        out.push_str(r.pick(SYMBOLS));
        out.push(' ');
        number(r, out);
    }
    if r.chance(10) {
        out.push_str(r.pick(ODD_SPACES));
        out.push_str(r.pick(OTHER_LATIN));
    }
    out.push_str(r.pick(&[".", "!", "?", "。", " ", "…"]));
}

fn multilingual_document(r: &mut Rng, fixtures: &[String], out: &mut String) {
    if r.chance(8) {
        out.push_str(&fixtures[r.below(fixtures.len())]);
        return;
    }
    for i in 0..1 + r.below(4) {
        if i > 0 {
            out.push(' ');
        }
        multilingual_sentence(r, out);
    }
}

/// Documents from `document` until they add up to `bytes`.
fn corpus(seed: u64, bytes: usize, mut document: impl FnMut(&mut Rng, &mut String)) -> Vec<String> {
    let mut r = Rng(seed);
    let mut docs = Vec::new();
    let mut total = 0;
    while total < bytes {
        let mut doc = String::new();
        document(&mut r, &mut doc);
        total += doc.len();
        docs.push(doc);
    }
    docs
}

/// The texts of `corpus.json` and `forward.json`.
fn fixture_texts() -> Vec<String> {
    let dir = root().join("tests/fixtures");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let mut texts: Vec<String> = serde_json::from_value(read("corpus.json")).unwrap();
    let forward: Vec<String> =
        serde_json::from_value(read("forward.json")["texts"].clone()).unwrap();
    texts.extend(forward);
    texts
}

struct Corpus {
    name: &'static str,
    docs: Vec<String>,
}

impl Corpus {
    fn bytes(&self) -> usize {
        self.docs.iter().map(String::len).sum()
    }
}

fn corpora() -> Vec<Corpus> {
    let all = fixture_texts();
    // English: the fixture texts that are plain ASCII prose (letters, at least three words).
    let english: Vec<String> = all
        .iter()
        .filter(|t| {
            t.is_ascii()
                && t.split_whitespace().count() >= 3
                && !t.bytes().any(|b| b.is_ascii_control())
        })
        .cloned()
        .collect();
    vec![
        Corpus {
            name: "english",
            docs: corpus(0x5EED_0001, ENGLISH_BYTES, |r, out| {
                english_document(r, &english, out)
            }),
        },
        Corpus {
            name: "multilingual",
            // Every fixture text once, first, then generated documents (with more of them).
            docs: all
                .iter()
                .cloned()
                .chain(corpus(0x5EED_0002, MULTILINGUAL_BYTES, |r, out| {
                    multilingual_document(r, &all, out)
                }))
                .collect(),
        },
    ]
}

// ---- The two tokenizers ----

/// BERT's pipeline in `tokenizers`, as `BertTokenizerFast` builds it from `vocab.txt`.
fn hf_bert(vocab: &Path, lowercase: bool) -> HfTokenizer {
    let model = WordPiece::from_file(vocab.to_str().unwrap())
        .unk_token("[UNK]".into())
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .unwrap();
    let id = |t: &str| tokenizers::Model::token_to_id(&model, t).unwrap();
    let (cls, sep) = (id("[CLS]"), id("[SEP]"));
    let mut tokenizer = HfTokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            true,
            Some(lowercase),
            lowercase,
        )))
        .unwrap();
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    tokenizer
        .add_special_tokens(
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map(|t| AddedToken::from(t, true)),
        )
        .unwrap();
    tokenizer
}

/// Panics unless both tokenizers give the same ids and byte offsets for every document.
fn check_identical(label: &str, ours: &Tokenizer, hf: &HfTokenizer, docs: &[String]) {
    let mut tokens = 0;
    for (i, doc) in docs.iter().enumerate() {
        let a = ours.encode(doc);
        let b = hf.encode(doc.as_str(), true).unwrap();
        assert_eq!(
            a.ids,
            b.get_ids(),
            "{label}: different ids for document {i}: {doc:?}"
        );
        assert_eq!(
            a.offsets,
            b.get_offsets(),
            "{label}: different offsets for document {i}: {doc:?}"
        );
        tokens += a.ids.len();
    }
    eprintln!(
        "{label}: {} documents, {tokens} tokens: ids and offsets identical",
        docs.len()
    );
}

fn tokenize(c: &mut Criterion) {
    // One text at a time does not parallelise in `tokenizers`, but make sure.
    tokenizers::utils::parallelism::set_parallelism(false);

    let corpora = corpora();
    // To check or time other tokenizers on the very same texts: one JSON list per corpus.
    if let Some(dir) = std::env::var_os("TOKENIZER_BENCH_DUMP") {
        for corpus in &corpora {
            let path = Path::new(&dir).join(format!("{}.json", corpus.name));
            std::fs::write(&path, serde_json::to_string(&corpus.docs).unwrap()).unwrap();
            eprintln!("wrote {}", path.display());
        }
    }
    for corpus in &corpora {
        let non_empty = corpus.docs.iter().filter(|d| !d.is_empty()).count();
        eprintln!(
            "corpus {}: {} documents ({} non-empty), {} bytes",
            corpus.name,
            corpus.docs.len(),
            non_empty,
            corpus.bytes()
        );
    }

    let minilm = root().join("weights/all-MiniLM-L6-v2");
    let mut vocabs = vec![(
        "cased-fixture",
        root().join("tests/fixtures/models/distilbert-cased/vocab.txt"),
        false,
    )];
    if minilm.join("vocab.txt").exists() {
        vocabs.push(("minilm-uncased", minilm.join("vocab.txt"), true));
    } else {
        eprintln!("weights/all-MiniLM-L6-v2 is missing (bash weights/fetch-minilm.sh): skipped");
    }

    for (vocab_name, vocab, lowercase) in &vocabs {
        let ours = Tokenizer::from_vocab_file(vocab, *lowercase).unwrap();
        let hf = hf_bert(vocab, *lowercase);
        for corpus in &corpora {
            check_identical(
                &format!("{vocab_name}/{}", corpus.name),
                &ours,
                &hf,
                &corpus.docs,
            );
        }
        if *vocab_name == "minilm-uncased" {
            // Our pipeline is the checkpoint's own: same ids as its tokenizer.json.
            let mut shipped = HfTokenizer::from_file(minilm.join("tokenizer.json")).unwrap();
            shipped.with_truncation(None).unwrap();
            shipped.with_padding(None);
            for corpus in &corpora {
                for doc in &corpus.docs {
                    assert_eq!(
                        shipped.encode(doc.as_str(), true).unwrap().get_ids(),
                        hf.encode(doc.as_str(), true).unwrap().get_ids(),
                        "tokenizer.json differs from our HF pipeline on {doc:?}"
                    );
                }
            }
            eprintln!("minilm-uncased: tokenizer.json gives the same ids as our HF pipeline");
        }

        for corpus in &corpora {
            let id = format!("{vocab_name}/{}", corpus.name);
            let bytes = corpus.bytes() as u64;

            let mut group = c.benchmark_group("tokenize/distil");
            group
                .sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .throughput(Throughput::Bytes(bytes));
            group.bench_function(&id, |b| {
                b.iter(|| {
                    let mut n = 0;
                    for doc in &corpus.docs {
                        n += black_box(ours.encode(black_box(doc))).ids.len();
                    }
                    n
                })
            });
            group.finish();

            let mut group = c.benchmark_group("tokenize/hf-tokenizers");
            group
                .sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .throughput(Throughput::Bytes(bytes));
            group.bench_function(&id, |b| {
                b.iter(|| {
                    let mut n = 0;
                    for doc in &corpus.docs {
                        n += black_box(hf.encode(black_box(doc.as_str()), true).unwrap()).len();
                    }
                    n
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, tokenize);
criterion_main!(benches);
