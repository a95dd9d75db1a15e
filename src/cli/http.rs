//! `parley http`: what the HTTP door needs from an operator. Works
//! without a configuration or a store.

use clap::{Subcommand, ValueEnum};

use crate::config::{Role, is_key_name};
use crate::error::Failure;
use crate::http::auth::new_api_key;

#[derive(Debug, Subcommand)]
pub enum HttpCommand {
    /// Make a new random API key: print the key (once: parley keeps only
    /// its hash) and the [[http.keys]] entry to paste into the config.
    ///
    /// The key goes first, alone on its line, so that a script can take
    /// it with `head -n1`. Exit 0; 64 for a name that is not valid.
    Key {
        /// The key's name: a-z, 0-9, '-', '_', '.' (1-64), shown in logs
        /// and GET /api/v1/me.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// What the key may do.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

/// `--role`: the roles of `[[http.keys]]`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// The marketplace backend: acts for any user it names, mints user tokens.
    Platform,
    /// Reviews held messages; sees every conversation.
    Moderator,
    /// Everything a moderator may, and the settings.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Platform => Role::Platform,
            RoleArg::Moderator => Role::Moderator,
            RoleArg::Admin => Role::Admin,
        }
    }
}

pub fn run(command: HttpCommand) -> Result<(), Failure> {
    match command {
        HttpCommand::Key { name, role } => key(&name, role.into()),
    }
}

fn key(name: &str, role: Role) -> Result<(), Failure> {
    if !is_key_name(name) {
        return Err(Failure::Usage(format!(
            "--name {name:?}: must be 1-64 characters of a-z, 0-9, '-', '_', '.'"
        )));
    }
    let (key, hash) = new_api_key()?;
    println!("{key}");
    println!();
    println!("# The key above is shown once: give it to the holder, keep it secret.");
    println!("# Paste this into the config file parley serve reads (--config FILE,");
    println!("# $PARLEY_CONFIG or /etc/parley/parley.toml) and restart it:");
    println!("[[http.keys]]");
    println!("name = \"{name}\"");
    println!("role = \"{}\"", role.as_str());
    println!("hash = \"{hash}\"");
    Ok(())
}
