//! The command line. `main` calls [`main`]; each command loads the config,
//! opens the store and calls into intake or the store.

mod data;
mod http;
mod mail;
mod moderation;
mod outbox;
mod policy;
mod search;
mod tickets;
mod users;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::error::{self, Failure};
use crate::intake::Intake;
use crate::setup::{self, Setup};
use crate::store::Store;

/// parley: an email gateway and ticketing daemon for marketplaces.
///
/// Mail to a queue's intake address opens a numbered ticket; replies thread
/// back by signed reply addresses, References or the subject tag.
#[derive(Debug, Parser)]
#[command(name = "parley", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file layered over the defaults (else $PARLEY_CONFIG,
    /// else /etc/parley/parley.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration and print it, secrets redacted.
    /// Exit 0 when valid, 2 when not.
    Check,
    /// Run the daemon: the SMTP and LMTP listeners from [smtp], the HTTP
    /// API from [http], the IMAP poller, the outbox worker sending
    /// notifications to [relay]. Creates
    /// the store and the key file when missing, applies migrations at
    /// start; stops cleanly on SIGTERM or SIGINT (exit 0).
    Serve,
    /// Create the store and the key file when missing, apply pending store
    /// migrations and sync the configured queues.
    ///
    /// Only `migrate` and `serve` create them: every other command that
    /// needs them exits 66 where there are none (`ingest`: 75).
    Migrate,
    /// Take one message on stdin, as an MTA pipe does.
    ///
    /// Exit codes: 0 stored (also a duplicate, or quarantined), 67 no
    /// recipient matches, 75 the store is unavailable or not set up yet
    /// (the MTA retries),
    /// 77 refused (too large, or a closed ticket that takes no messages),
    /// 64 usage error.
    Ingest {
        /// Envelope recipient (repeatable). Without it, recipients come
        /// from Delivered-To, To and Cc.
        #[arg(long = "recipient", value_name = "ADDR")]
        recipients: Vec<String>,
        /// Envelope sender (the MTA's ${sender}); empty for a null sender.
        #[arg(long, value_name = "ADDR")]
        sender: Option<String>,
    },
    /// Run the whole pipeline on a message as a dry run and show the result.
    /// Writes no message data.
    Inspect {
        /// The message file; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// Envelope recipient (repeatable), as for `ingest`.
        #[arg(long = "recipient", value_name = "ADDR")]
        recipients: Vec<String>,
        /// Print the JSON object documented in docs/json.md.
        #[arg(long)]
        json: bool,
    },
    /// List, show and work on tickets.
    #[command(subcommand)]
    Tickets(tickets::TicketsCommand),
    /// Messages that could not be taken, kept raw for an admin.
    #[command(subcommand)]
    Quarantine(mail::QuarantineCommand),
    /// Messages held by the content policy (or by threading) until a
    /// moderator approves or rejects them.
    #[command(subcommand)]
    Moderation(moderation::ModerationCommand),
    /// Notifications and their delivery: list them, show one's mail, retry
    /// a failed one.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// The content policy's spam model: train it (from mail, or from the
    /// moderators' decisions), score a message with it.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The HTTP API: make API keys.
    #[command(subcommand)]
    Http(http::HttpCommand),
    /// Webhooks ([[webhooks]]): where each stands, queue failed
    /// deliveries again.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// The console's accounts: add, set a password, disable, list.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Validate the configuration, then tell the `parley serve` of PID to
    /// read it again (SIGHUP): queues, templates, policy rules, the spam
    /// model, the relay, TLS certificates and IMAP mailboxes change without
    /// a restart. Exit 2 and nothing sent when the file is not valid.
    /// systemd's `systemctl reload parley` runs this (ExecReload=).
    Reload {
        /// The process of `parley serve` (the unit passes $MAINPID).
        #[arg(long, value_name = "PID")]
        pid: i32,
    },
    /// Copy the SQLite store into a new FILE, consistently, while `parley
    /// serve` runs and writes (a PostgreSQL store: use pg_dump; exit 64).
    ///
    /// Restore: stop `parley serve`, copy FILE to the path of store.url,
    /// start it. Exit 64 when FILE exists (it is never overwritten).
    Backup {
        /// The new file to write.
        file: PathBuf,
    },
    /// Delete once what [retention] says is old enough: raw mail of
    /// closed tickets idle for raw_mail_days, notifications sent more than
    /// notifications_days ago (`parley serve` does it every
    /// retention.interval_secs). Prints what it deleted.
    Purge {
        /// Count what would go; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Erase a participant, for a data-protection request: the texts of
    /// their messages masked, their raw mail deleted, their address
    /// replaced by erased-N@invalid wherever the store keeps it, their
    /// pending notifications cancelled, an audit entry per ticket. The
    /// tickets stay. Exit 1 when no ticket has the address, 64 when it is
    /// not an address, 77 when it is a queue's own.
    Erase {
        /// The address to erase.
        #[arg(long, value_name = "ADDR")]
        participant: String,
        /// Who erases, for the history.
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return error::exit(if e.use_stderr() {
                error::EX_USAGE
            } else {
                error::EX_OK
            });
        }
    };
    init_logging(matches!(cli.command, Command::Serve));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("parley: cannot start the runtime: {e}");
            return error::exit(error::EX_FAILURE);
        }
    };
    let pipe = matches!(cli.command, Command::Ingest { .. });
    let command = move || match runtime.block_on(run(cli)) {
        Ok(()) => error::exit(error::EX_OK),
        Err(failure) => {
            if let Failure::Store(e) = &failure {
                tracing::error!(error = ?e, "store failure");
            }
            eprintln!("parley: {failure}");
            error::exit(if pipe {
                failure.exit_code_for_pipe()
            } else {
                failure.exit_code()
            })
        }
    };
    if pipe {
        error::pipe_guard(command)
    } else {
        command()
    }
}

/// Logs go to stderr, one line per event; `PARLEY_LOG` (or `RUST_LOG`)
/// sets the filter (default: `info` for `serve`, `warn` for the rest).
/// Colours only on a terminal; under systemd (`JOURNAL_STREAM` set) no
/// timestamps either, as the journal adds its own.
fn init_logging(daemon: bool) {
    let filter = std::env::var("PARLEY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| if daemon { "info" } else { "warn" }.into());
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    // PARLEY_LOG_FORMAT=json: one JSON object a line (timestamp, level,
    // target, the message and its fields at the top level), for log
    // shippers; anything else: the text format.
    if std::env::var("PARLEY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        let _ = builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init();
        return;
    }
    let builder = builder.with_ansi(terminal);
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() && !terminal {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Check = cli.command {
        return check(cli.config);
    }
    if let Command::Http(command) = cli.command {
        return http::run(command);
    }
    if let Command::Policy(command) = &cli.command
        && !command.needs_store()
    {
        let Command::Policy(command) = cli.command else {
            unreachable!("matched above")
        };
        return policy::run(command);
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Serve = cli.command {
        return crate::serve::run(config, cli.config.clone()).await;
    }
    if let Command::Reload { pid } = cli.command {
        return reload(pid);
    }
    if let Command::Backup { file } = &cli.command {
        return data::backup(&config, file).await;
    }
    let setup = match cli.command {
        Command::Migrate => Setup::Create,
        _ => Setup::Existing,
    };
    let app = App::open(config, setup).await?;
    match cli.command {
        Command::Check
        | Command::Serve
        | Command::Http(_)
        | Command::Backup { .. }
        | Command::Reload { .. } => {
            unreachable!("handled above")
        }
        Command::Policy(command) => policy::run_with_store(&app, command).await,
        Command::Migrate => {
            println!(
                "store migrated; {} queue(s) synced",
                app.config.queues.len()
            );
            Ok(())
        }
        Command::Ingest { recipients, sender } => mail::ingest(&app, recipients, sender).await,
        Command::Inspect {
            file,
            recipients,
            json,
        } => mail::inspect(&app, file, recipients, json).await,
        Command::Tickets(command) => tickets::run(&app, command).await,
        Command::Quarantine(command) => mail::quarantine(&app, command).await,
        Command::Moderation(command) => moderation::run(&app, command).await,
        Command::Outbox(command) => outbox::run(&app, command).await,
        Command::Webhooks(command) => webhooks::run(&app, command).await,
        Command::Users(command) => users::run(&app, command).await,
        Command::Purge { dry_run } => data::purge(&app, dry_run).await,
        Command::Erase { participant, actor } => data::erase(&app, &participant, &actor).await,
    }
}

fn check(path: Option<PathBuf>) -> Result<(), Failure> {
    let config = Config::load(path.as_deref())?;
    let text = toml::to_string(&config.redacted())
        .map_err(|e| Failure::Usage(format!("cannot print the config: {e}")))?;
    match crate::config::config_path(path.as_deref()) {
        Some(path) => println!("# defaults + {} + environment: valid", path.display()),
        None => println!("# defaults + environment: valid"),
    }
    print!("{text}");
    Ok(())
}

/// Sends SIGHUP to `pid` (the configuration was found valid first).
fn reload(pid: i32) -> Result<(), Failure> {
    use rustix::process::{Pid, Signal, kill_process};
    let target = Pid::from_raw(pid)
        .ok_or_else(|| Failure::Usage(format!("--pid {pid} is not a process id")))?;
    kill_process(target, Signal::HUP).map_err(|e| {
        Failure::Usage(format!(
            "cannot signal process {pid}: {e} (is `parley serve` running as that PID, \
             and may this user signal it?)"
        ))
    })?;
    println!("configuration valid; process {pid} told to reload it (its log says what changed)");
    Ok(())
}

/// What every command that touches the store needs.
pub struct App {
    pub config: Config,
    pub intake: Intake,
    /// The key that signs reply addresses, as the store's setup loaded it.
    pub secret: Vec<u8>,
}

impl App {
    /// Opens the store (migrating it), syncs the queues, loads the secret;
    /// creates the store and the key file only under [`Setup::Create`].
    pub async fn open(config: Config, setup: Setup) -> Result<App, Failure> {
        let (store, secret) = setup::open(&config, setup).await?;
        let intake = Intake::new(&config, &secret, store);
        Ok(App {
            config,
            intake,
            secret,
        })
    }

    pub fn store(&self) -> &dyn Store {
        self.intake.store()
    }
}
