//! `parley users`: the console's accounts (docs/console.md). The password
//! is read from the first line of standard input, never from the command
//! line (which other users of the machine can read):
//!
//! ```text
//! printf '%s\n' "$PASSWORD" | parley users add agent@shop.example --role seller
//! ```

use std::io::BufRead;

use clap::Subcommand;

use super::App;
use crate::address;
use crate::console::password::{self, PasswordError};
use crate::error::Failure;
use crate::store::{ConsoleRole, StoreError, now_ms};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an account; its password is the first line of stdin. Exit 0;
    /// 64 for a bad login, role or password (at least 10 characters);
    /// 77 when the login exists.
    Add {
        /// An email address: for sellers' staff and operators, the address
        /// they work as (a staff address of their queues), whose tickets
        /// they see.
        login: String,
        /// seller, operator, moderator or admin.
        #[arg(long)]
        role: String,
        /// The name the pages show (default: the login).
        #[arg(long)]
        name: Option<String>,
    },
    /// Set an account's password (the first line of stdin); its sessions
    /// end.
    Passwd { login: String },
    /// Disable an account: it cannot log in, its sessions end.
    Disable { login: String },
    /// Enable a disabled account.
    Enable { login: String },
    /// List the accounts.
    List,
}

pub async fn run(app: &App, command: UsersCommand) -> Result<(), Failure> {
    let store = app.store();
    match command {
        UsersCommand::Add { login, role, name } => {
            let login = valid_login(&login)?;
            let role = ConsoleRole::parse(&role).ok_or_else(|| {
                Failure::Usage(format!(
                    "--role: {role:?} is not one of {}",
                    ConsoleRole::ALL.map(|r| r.as_str()).join(", ")
                ))
            })?;
            let hash = hashed_from_stdin()?;
            match store
                .add_console_user(&login, name.as_deref(), role, &hash, now_ms())
                .await
            {
                Ok(_) => println!("account {login} added ({})", role.as_str()),
                Err(StoreError::Conflict(what)) => return Err(Failure::Rejected(what)),
                Err(e) => return Err(e.into()),
            }
        }
        UsersCommand::Passwd { login } => {
            let login = address::normalize(&login);
            let hash = hashed_from_stdin()?;
            found(store.set_console_password(&login, &hash).await)?;
            println!("password of {login} set; its sessions ended");
        }
        UsersCommand::Disable { login } => {
            let login = address::normalize(&login);
            found(store.set_console_disabled(&login, Some(now_ms())).await)?;
            println!("account {login} disabled; its sessions ended");
        }
        UsersCommand::Enable { login } => {
            let login = address::normalize(&login);
            found(store.set_console_disabled(&login, None).await)?;
            println!("account {login} enabled");
        }
        UsersCommand::List => {
            for user in store.console_users().await? {
                println!(
                    "{:<40} {:<10} {}{}",
                    user.login,
                    user.role.as_str(),
                    user.display_name.as_deref().unwrap_or(""),
                    if user.disabled_ms.is_some() {
                        " (disabled)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    Ok(())
}

fn valid_login(login: &str) -> Result<String, Failure> {
    let login = address::normalize(login);
    match address::is_address(&login) {
        true => Ok(login),
        false => Err(Failure::Usage(format!(
            "{login:?} is not an email address: a login is the address its holder works as"
        ))),
    }
}

fn found(result: Result<(), StoreError>) -> Result<(), Failure> {
    match result {
        Err(StoreError::NotFound(what)) => Err(Failure::NotFound(what)),
        other => Ok(other?),
    }
}

/// The first line of stdin, hashed.
fn hashed_from_stdin() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let typed = line.trim_end_matches(['\r', '\n']);
    password::hash(typed).map_err(|e| match e {
        PasswordError::TooShort => {
            Failure::Usage(format!("{e} (the first line of stdin is the password)"))
        }
        other => Failure::Usage(other.to_string()),
    })
}
