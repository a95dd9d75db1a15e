//! The console's accounts and sessions (migration 0016; an operator's
//! availability, 0018): who may log in
//! to the pages (`src/console/`), with which role, and the browsers that
//! are logged in.
//!
//! A session is found by the SHA-256 of its cookie's value (the value is
//! never stored: a copy of the store logs nobody in), and only while it
//! has not expired and its account is not disabled; disabling an account
//! or changing its password ends its sessions.

use crate::store::sql::sql_impl;
use async_trait::async_trait;

use super::StoreError;
use super::sql::get;

/// What an account may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleRole {
    /// A seller's staff: the tickets their address sees.
    Seller,
    /// An operator of a queue: the same, and the pool.
    Operator,
    /// Every ticket, and the held messages.
    Moderator,
    /// Everything a moderator may.
    Admin,
}

impl ConsoleRole {
    pub const ALL: [ConsoleRole; 4] = [
        ConsoleRole::Seller,
        ConsoleRole::Operator,
        ConsoleRole::Moderator,
        ConsoleRole::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleRole::Seller => "seller",
            ConsoleRole::Operator => "operator",
            ConsoleRole::Moderator => "moderator",
            ConsoleRole::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<ConsoleRole> {
        ConsoleRole::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Moderators and admins see every ticket; the others what their
    /// address sees.
    pub fn sees_everything(self) -> bool {
        matches!(self, ConsoleRole::Moderator | ConsoleRole::Admin)
    }
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub id: i64,
    /// An email address, normalized.
    pub login: String,
    pub display_name: Option<String>,
    pub role: ConsoleRole,
    /// argon2id, PHC string.
    pub password_hash: String,
    /// When it was disabled (Unix ms); `None`: it may log in.
    pub disabled_ms: Option<i64>,
    /// An operator's availability switch ([`crate::store::DeskStore`]).
    pub available: bool,
}

/// A logged-in browser's session, as its pages need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub user: ConsoleUser,
    /// The form token of its pages (CSRF).
    pub csrf: String,
    pub expires_ms: i64,
}

#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Adds an account; [`StoreError::Conflict`] when the login exists.
    async fn add_console_user(
        &self,
        login: &str,
        display_name: Option<&str>,
        role: ConsoleRole,
        password_hash: &str,
        now: i64,
    ) -> Result<i64, StoreError>;

    /// The account with this login.
    async fn console_user(&self, login: &str) -> Result<Option<ConsoleUser>, StoreError>;

    /// Every account, by login.
    async fn console_users(&self) -> Result<Vec<ConsoleUser>, StoreError>;

    /// Sets an account's password and ends its sessions;
    /// [`StoreError::NotFound`] when there is no such login.
    async fn set_console_password(&self, login: &str, hash: &str) -> Result<(), StoreError>;

    /// Disables (`Some(now)`) or enables (`None`) an account; disabling
    /// ends its sessions. [`StoreError::NotFound`] when there is none.
    async fn set_console_disabled(
        &self,
        login: &str,
        disabled_ms: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Opens a session for `user` until `expires_ms`; expired sessions
    /// of every account are dropped on the way.
    async fn open_console_session(
        &self,
        user: i64,
        token_sha256: &str,
        csrf: &str,
        now: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError>;

    /// The session whose cookie hashes to `token_sha256`, while it runs
    /// (not expired at `now`, its account enabled).
    async fn console_session(
        &self,
        token_sha256: &str,
        now: i64,
    ) -> Result<Option<ConsoleSession>, StoreError>;

    /// Ends a session (logout); nothing when there is none.
    async fn close_console_session(&self, token_sha256: &str) -> Result<(), StoreError>;
}

const USER_COLUMNS: &str = "id, login, display_name, role, password_hash, disabled_ms, available";

fn user_of<R>(row: &R) -> Result<ConsoleUser, StoreError>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = get(row, "role")?;
    Ok(ConsoleUser {
        id: get(row, "id")?,
        login: get(row, "login")?,
        display_name: get(row, "display_name")?,
        role: ConsoleRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown console role {role:?}")))?,
        password_hash: get(row, "password_hash")?,
        disabled_ms: get(row, "disabled_ms")?,
        available: get::<i64, _>(row, "available")? != 0,
    })
}

sql_impl! {
    #[async_trait]
    impl ConsoleStore for SqlStore {
        async fn add_console_user(
            &self,
            login: &str,
            display_name: Option<&str>,
            role: ConsoleRole,
            password_hash: &str,
            now: i64,
        ) -> Result<i64, StoreError> {
            let row = sqlx::query(
                "INSERT INTO console_users (login, display_name, role, password_hash, created_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (login) DO NOTHING RETURNING id",
            )
            .bind(login)
            .bind(display_name)
            .bind(role.as_str())
            .bind(password_hash)
            .bind(now)
            .fetch_optional(&self.write)
            .await?;
            match row {
                Some(row) => get(&row, "id"),
                None => Err(StoreError::Conflict(format!("the account {login} exists"))),
            }
        }

        async fn console_user(&self, login: &str) -> Result<Option<ConsoleUser>, StoreError> {
            let sql = format!("SELECT {USER_COLUMNS} FROM console_users WHERE login = $1");
            let row = sqlx::query(&sql).bind(login).fetch_optional(&self.read).await?;
            row.as_ref().map(user_of).transpose()
        }

        async fn console_users(&self) -> Result<Vec<ConsoleUser>, StoreError> {
            let sql = format!("SELECT {USER_COLUMNS} FROM console_users ORDER BY login");
            let rows = sqlx::query(&sql).fetch_all(&self.read).await?;
            rows.iter().map(user_of).collect()
        }

        async fn set_console_password(&self, login: &str, hash: &str) -> Result<(), StoreError> {
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let row = sqlx::query(
                "UPDATE console_users SET password_hash = $1 WHERE login = $2 RETURNING id",
            )
            .bind(hash)
            .bind(login)
            .fetch_optional(&mut *tx)
            .await?;
            Self::end_sessions(&mut tx, login, row, true).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn set_console_disabled(
            &self,
            login: &str,
            disabled_ms: Option<i64>,
        ) -> Result<(), StoreError> {
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let row = sqlx::query(
                "UPDATE console_users SET disabled_ms = $1 WHERE login = $2 RETURNING id",
            )
            .bind(disabled_ms)
            .bind(login)
            .fetch_optional(&mut *tx)
            .await?;
            Self::end_sessions(&mut tx, login, row, disabled_ms.is_some()).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn open_console_session(
            &self,
            user: i64,
            token_sha256: &str,
            csrf: &str,
            now: i64,
            expires_ms: i64,
        ) -> Result<(), StoreError> {
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO console_sessions (token_sha256, user_id, csrf, created_ms, \
                 expires_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_sha256)
            .bind(user)
            .bind(csrf)
            .bind(now)
            .bind(expires_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn console_session(
            &self,
            token_sha256: &str,
            now: i64,
        ) -> Result<Option<ConsoleSession>, StoreError> {
            let row = sqlx::query(
                "SELECT u.id, u.login, u.display_name, u.role, u.password_hash, u.disabled_ms, \
                 u.available, s.csrf, s.expires_ms FROM console_sessions s \
                 JOIN console_users u ON u.id = s.user_id \
                 WHERE s.token_sha256 = $1 AND s.expires_ms > $2 AND u.disabled_ms IS NULL",
            )
                .bind(token_sha256)
                .bind(now)
                .fetch_optional(&self.read)
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(ConsoleSession {
                user: user_of(&row)?,
                csrf: get(&row, "csrf")?,
                expires_ms: get(&row, "expires_ms")?,
            }))
        }

        async fn close_console_session(&self, token_sha256: &str) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM console_sessions WHERE token_sha256 = $1")
                .bind(token_sha256)
                .execute(&self.write)
                .await?;
            Ok(())
        }
    }
}

sql_impl! {
    impl SqlStore {
        /// After an account's `UPDATE … RETURNING id`: [`StoreError::NotFound`]
        /// when it found no account `login`; else, when `end`, its sessions
        /// are deleted in the same transaction.
        async fn end_sessions(
            conn: &mut DB::Connection,
            login: &str,
            row: Option<DB::Row>,
            end: bool,
        ) -> Result<(), StoreError> {
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!("no account {login}")));
            };
            if end {
                let id: i64 = get(&row, "id")?;
                sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(conn)
                    .await?;
            }
            Ok(())
        }
    }
}
