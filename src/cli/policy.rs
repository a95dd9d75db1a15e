//! `parley policy`: train the spam model and see how it scores a message.
//! Works on files only: no configuration, no store.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use serde_json::Value;

use super::App;
use crate::error::Failure;
use crate::intake::parse::{Parsed, parse};
use crate::intake::policy::spam::corpus::{self, CorpusError};
use crate::intake::policy::spam::{
    DEFAULT_HOLD_AT, DEFAULT_REJECT_AT, Model, ModelError, SHIPPED_MIN_MESSAGES, Trainer,
};
use crate::store::Moderation;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Train a spam model from labelled mail and write it.
    ///
    /// Give --ham and --spam directories (one raw message per file, read
    /// recursively; repeatable), or a --labels file. Files that are not a
    /// mail message are skipped and counted. The shipped model is made with
    /// `--labels tests/fixtures/spam/labels.tsv
    /// --out src/intake/policy/spam/model.txt` (`--exclude-held-aside`
    /// trains the model the benchmark and tests measure on that part).
    ///
    /// Exit codes: 0 written, 64 usage error (also: a directory or file
    /// that does not exist, or no ham or no spam message found), 1 the
    /// model could not be written.
    Train(TrainArgs),
    /// Score one message with the spam model: probability, the verdict at
    /// the default thresholds, the rules that fired and the strongest
    /// tokens. Exit 0; 64 when the file is missing or not a message.
    Score {
        /// The message file; `-` reads stdin.
        file: PathBuf,
        /// A model written by `policy train` (default: the shipped one).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// How many of the strongest tokens to show.
        #[arg(long, default_value_t = 15, value_name = "N")]
        tokens: usize,
    },
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A directory of ham (legitimate) messages.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["labels", "from_moderation"])]
    ham: Vec<PathBuf>,
    /// A directory of spam messages.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["labels", "from_moderation"])]
    spam: Vec<PathBuf>,
    /// A labels.tsv (file, ham|spam, subset; paths relative to it)
    /// instead of --ham and --spam.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ham", "spam"])]
    labels: Option<PathBuf>,
    /// Instead of files: the spam model in force, taught by the
    /// moderators' decisions on messages it held (approved: ham, rejected:
    /// spam). Opens the configuration and the store.
    #[arg(long, conflicts_with_all = ["ham", "spam", "labels"])]
    from_moderation: bool,
    /// Leave out the messages held aside for measuring (sha256 of the
    /// labels.tsv name, first byte mod 5 == 0).
    #[arg(long, requires = "labels")]
    exclude_held_aside: bool,
    /// Keep only tokens seen in at least N messages.
    #[arg(long, default_value_t = SHIPPED_MIN_MESSAGES, value_name = "N")]
    min_messages: u32,
    /// Where to write the model.
    #[arg(long, default_value = "spam-model.txt", value_name = "FILE")]
    out: PathBuf,
}

impl PolicyCommand {
    /// Whether the command reads the store (and so the configuration).
    pub fn needs_store(&self) -> bool {
        matches!(self, PolicyCommand::Train(args) if args.from_moderation)
    }
}

/// The commands that need the store.
pub async fn run_with_store(app: &App, command: PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Train(args) if args.from_moderation => {
            teach_spam_model(app, &args.out).await
        }
        command => run(command),
    }
}

pub fn run(command: PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Train(args) => train(args),
        PolicyCommand::Score {
            file,
            model,
            tokens,
        } => score(&file, model.as_deref(), tokens),
    }
}

fn train(args: TrainArgs) -> Result<(), Failure> {
    let mut sources: Vec<(PathBuf, bool)> = Vec::new();
    if let Some(labels) = &args.labels {
        for entry in corpus::read_labels(labels).map_err(corpus_failure)? {
            if !(args.exclude_held_aside && corpus::held_aside(&entry.name)) {
                sources.push((entry.path, entry.is_spam));
            }
        }
    }
    for (dirs, is_spam) in [(&args.ham, false), (&args.spam, true)] {
        for dir in dirs {
            let files = corpus::files_in(dir).map_err(corpus_failure)?;
            sources.extend(files.into_iter().map(|f| (f, is_spam)));
        }
    }
    let mut trainer = Trainer::new();
    let mut skipped = 0usize;
    for (path, is_spam) in &sources {
        match read_message(path)? {
            Some(parsed) => trainer.add(&parsed, *is_spam),
            None => skipped += 1,
        }
    }
    let mut model = trainer.finish();
    let (ham, spam) = model.messages();
    if ham == 0 || spam == 0 {
        return Err(Failure::Usage(format!(
            "need ham and spam to learn from; found {ham} ham and {spam} spam messages"
        )));
    }
    let learned = model.len();
    model.prune(args.min_messages);
    model.save(&args.out).map_err(model_failure)?;
    println!(
        "trained on {ham} ham and {spam} spam messages ({skipped} files skipped: not a message)"
    );
    println!(
        "{} of {learned} tokens kept (seen in at least {} messages)",
        model.len(),
        args.min_messages
    );
    println!("written to {}", args.out.display());
    Ok(())
}

fn score(file: &Path, model_path: Option<&Path>, shown: usize) -> Result<(), Failure> {
    let loaded;
    let model = match model_path {
        Some(path) => {
            loaded = Model::load(path).map_err(model_failure)?;
            &loaded
        }
        None => Model::default_model(),
    };
    let parsed = if file == Path::new("-") {
        let mut raw = Vec::new();
        std::io::stdin().read_to_end(&mut raw)?;
        parse(&raw)
    } else {
        read_message(file)?
    };
    let Some(parsed) = parsed else {
        return Err(Failure::Usage(format!(
            "{}: not a mail message",
            file.display()
        )));
    };
    let score = model.score(&parsed);
    let verdict = if score.probability >= DEFAULT_REJECT_AT {
        "reject"
    } else if score.probability >= DEFAULT_HOLD_AT {
        "hold"
    } else {
        "pass"
    };
    println!(
        "probability {:.4} {verdict} (hold at {DEFAULT_HOLD_AT}, reject at {DEFAULT_REJECT_AT})",
        score.probability
    );
    println!("rules: {}", score.rules.join(" "));
    for (token, p) in model.explain(&parsed).into_iter().take(shown) {
        println!("  {p:.3} {token}");
    }
    Ok(())
}

/// `parley policy train --from-moderation`: the spam model in force, taught
/// by the moderators' decisions on the messages the spam model held:
/// approved ones are ham (the model was wrong), rejected ones spam. Holds
/// for other reasons (contact details, payment) teach it nothing.
pub async fn teach_spam_model(app: &App, out: &std::path::Path) -> Result<(), Failure> {
    use crate::intake::policy::spam::Trainer;
    let mut trainer = Trainer::resume(app.config.policy.model().clone());
    let (mut ham, mut spam, mut skipped) = (0usize, 0usize, 0usize);
    for message in app.store().moderated().await? {
        let hits = serde_json::from_str::<Value>(&message.policy_hits).unwrap_or_default();
        let as_spam = hits
            .as_array()
            .is_some_and(|hits| hits.iter().any(|h| h["category"] == "spam"));
        if !as_spam {
            continue;
        }
        let raw = match message.raw_id {
            Some(id) => app.store().raw_bytes(id).await?,
            None => None,
        };
        let Some(parsed) = raw.as_deref().and_then(crate::intake::parse::parse) else {
            skipped += 1;
            continue;
        };
        let is_spam = message.moderation == Moderation::Rejected;
        trainer.add(&parsed, is_spam);
        if is_spam { spam += 1 } else { ham += 1 }
    }
    if ham + spam == 0 {
        return Err(Failure::Usage(
            "no moderated message was held as spam: nothing to learn".into(),
        ));
    }
    let model = trainer.finish();
    model
        .save(out)
        .map_err(|e| Failure::Io(std::io::Error::other(format!("{}: {e}", out.display()))))?;
    println!(
        "learned {ham} ham and {spam} spam from moderation ({skipped} without their raw message); \
         model written to {}; set spam.model in the policy rules to use it",
        out.display()
    );
    Ok(())
}

/// The parsed message at `path`; `None` when it is not a message.
fn read_message(path: &Path) -> Result<Option<Parsed>, Failure> {
    match std::fs::read(path) {
        Ok(raw) => Ok(parse(&raw)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Failure::Usage(format!("{}: {e}", path.display())))
        }
        Err(e) => Err(Failure::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))),
    }
}

/// A path the user named that does not exist is a usage error; other I/O
/// failures are failures.
fn corpus_failure(e: CorpusError) -> Failure {
    match e {
        CorpusError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Failure::Usage(e.to_string())
        }
        CorpusError::Io { source, path } => Failure::Io(std::io::Error::new(
            source.kind(),
            format!("{}: {source}", path.display()),
        )),
        CorpusError::Labels { .. } => Failure::Usage(e.to_string()),
    }
}

fn model_failure(e: ModelError) -> Failure {
    match e {
        ModelError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Failure::Usage(e.to_string())
        }
        ModelError::Io { source, path } => Failure::Io(std::io::Error::new(
            source.kind(),
            format!("{}: {source}", path.display()),
        )),
        ModelError::Format { .. } => Failure::Usage(e.to_string()),
    }
}
