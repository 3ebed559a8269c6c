//! The database under [`crate::Store`]: one of two backends behind one small interface, so that
//! every statement of the portal is written once.
//!
//! - **SQLite** (the default): one file in the data folder, write-ahead log, opened once per
//!   process behind a mutex. Several processes may share the file (the server and `ctplan
//!   worker`s on one machine): every transaction starts `BEGIN IMMEDIATE`, so a transaction
//!   that reads then writes takes the write lock first and waits (busy timeout) rather than
//!   failing when another process writes.
//! - **PostgreSQL** (`postgres://...`): the synchronous `postgres` client. It drives its own
//!   async runtime and must not be called from a thread of another one (the HTTP handlers call
//!   the store from the server's runtime), so the client lives on a thread of its own and each
//!   statement is sent to it over a channel, the caller blocking on the answer. A mutex around
//!   the channel makes a transaction's statements one caller's alone, as with SQLite. A
//!   connection the server closed is opened again before the next statement, except inside a
//!   transaction: its remaining statements fail, so that it cannot commit half of itself on a
//!   new connection.
//!
//! The SQL is SQLite's and PostgreSQL's common ground; placeholders are written `?N` and
//! become `$N` for PostgreSQL ([`numbered_placeholders`]). Values are four kinds ([`Value`]);
//! a parameter takes the type PostgreSQL infers for its place (an `INTEGER` column gets a
//! 32-bit integer), and a placeholder whose type nothing tells (`?1 + ?2`) is written
//! `CAST(?1 AS BIGINT)`. The one statement that differs is the claim of a job, which adds
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL ([`Dialect`]).

use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::PortalError;

/// Which SQL the backend speaks, where it differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value of a parameter or a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (any width; booleans read as 0 or 1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
}

/// Anything that can be a parameter: the types the store passes (`&str`, `String`, `i64`,
/// `f64`, options of them, and references to all of these).
pub trait ToValue {
    /// The value.
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

/// The parameters of a statement: `params![a, b]` is `&[Value]`, each argument taken by
/// reference through [`ToValue`].
#[macro_export]
macro_rules! params {
    () => { &[] as &[$crate::db::Value] };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::db::ToValue::to_value(&$x)),+] as &[$crate::db::Value]
    };
}

/// A column value read back as a Rust type.
pub trait FromValue: Sized {
    /// The value as `Self`, or why not.
    fn from_value(v: Value) -> Result<Self, String>;
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Self, String> {
        Ok(v)
    }
}
impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromValue for i64 {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
impl FromValue for f64 {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Real(x) => Ok(x),
            Value::Int(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One row of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as `T`; an error naming the column when it is missing or of another type.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, PortalError> {
        let v = self
            .0
            .get(i)
            .cloned()
            .ok_or_else(|| PortalError::Data(format!("no column {i} in the row")))?;
        T::from_value(v).map_err(|e| PortalError::Data(format!("column {i}: {e}")))
    }
}

/// `sql` with SQLite's `?N` placeholders written as PostgreSQL's `$N` (outside quoted text).
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The open database: a backend and its connection.
pub(crate) enum Db {
    Sqlite(Mutex<Connection>),
    Postgres(Mutex<Pg>),
}

impl Db {
    /// The connection, for one short use or one transaction.
    pub(crate) fn lock(&self) -> Conn<'_> {
        // A panic while holding the lock leaves a consistent database (statements are atomic;
        // a transaction left open is rolled back by the next `begin`).
        match self {
            Db::Sqlite(m) => Conn::Sqlite(m.lock().unwrap_or_else(|p| p.into_inner())),
            Db::Postgres(m) => Conn::Postgres(m.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }
}

/// The connection, held: statements run one after the other, no other caller in between.
pub enum Conn<'a> {
    /// SQLite.
    Sqlite(MutexGuard<'a, Connection>),
    /// PostgreSQL (the client's thread).
    Postgres(MutexGuard<'a, Pg>),
}

impl Conn<'_> {
    /// Which SQL the backend speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Run a statement; the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize, PortalError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute(sql, rusqlite::params_from_iter(params.iter()))?),
            Conn::Postgres(pg) => match pg.call(Op::Execute, sql, params)? {
                Out::Count(n) => Ok(n as usize),
                Out::Rows(_) | Out::Done => Ok(0),
            },
        }
    }

    /// Run several statements without parameters (a migration, `BEGIN`).
    pub fn batch(&mut self, sql: &str) -> Result<(), PortalError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(pg) => pg.call(Op::Batch, sql, &[]).map(|_| ()),
        }
    }

    /// Every row of a query.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, PortalError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare(sql)?;
                let n = st.column_count();
                let rows = st.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                    (0..n).map(|i| sqlite_value(r.get_ref(i)?)).collect()
                })?;
                Ok(rows
                    .map(|r| r.map(Row))
                    .collect::<Result<Vec<_>, rusqlite::Error>>()?)
            }
            Conn::Postgres(pg) => match pg.call(Op::Query, sql, params)? {
                Out::Rows(rows) => Ok(rows),
                Out::Count(_) | Out::Done => Ok(Vec::new()),
            },
        }
    }

    /// Every row of a query, each mapped by `f`.
    pub fn query_map<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        f: impl FnMut(&Row) -> Result<T, PortalError>,
    ) -> Result<Vec<T>, PortalError> {
        self.query(sql, params)?.iter().map(f).collect()
    }

    /// The first row of a query mapped by `f`, or `None` when it has none.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        f: impl FnOnce(&Row) -> Result<T, PortalError>,
    ) -> Result<Option<T>, PortalError> {
        self.query(sql, params)?.first().map(f).transpose()
    }

    /// The first row of a query mapped by `f`; an error when it has none.
    pub fn query_row<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        f: impl FnOnce(&Row) -> Result<T, PortalError>,
    ) -> Result<T, PortalError> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| PortalError::Data("the query returned no row".into()))
    }

    /// Run `f` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    /// SQLite's starts `IMMEDIATE` (the write lock first, see the module's doc).
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, PortalError>,
    ) -> Result<T, PortalError> {
        // A transaction a panic left open is ended first.
        let open = match self {
            Conn::Sqlite(c) => !c.is_autocommit(),
            Conn::Postgres(pg) => pg.in_transaction,
        };
        if open {
            self.batch("ROLLBACK")?;
        }
        self.batch(match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        })?;
        self.set_in_transaction(true);
        let out = f(self);
        let end = match &out {
            Ok(_) => self.batch("COMMIT"),
            Err(_) => self.batch("ROLLBACK"),
        };
        self.set_in_transaction(false);
        let out = out?;
        end?;
        Ok(out)
    }

    fn set_in_transaction(&mut self, open: bool) {
        if let Conn::Postgres(pg) = self {
            pg.in_transaction = open;
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(x) => ToSqlOutput::Borrowed(ValueRef::Real(*x)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<Value> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(x) => Value::Real(x),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) => {
            return Err(rusqlite::Error::InvalidColumnType(
                0,
                "blob".into(),
                rusqlite::types::Type::Blob,
            ));
        }
    })
}

// --- PostgreSQL ---

enum Op {
    Execute,
    Query,
    Batch,
}

enum Out {
    Count(u64),
    Rows(Vec<Row>),
    Done,
}

struct Request {
    op: Op,
    sql: String,
    params: Vec<Value>,
    reply: mpsc::SyncSender<Result<Out, String>>,
}

/// The channel to the thread that owns the PostgreSQL client (see the module's doc).
pub struct Pg {
    requests: mpsc::Sender<Request>,
    in_transaction: bool,
}

impl Pg {
    /// Connect to `url` on a new thread; the connection's error when it cannot.
    pub(crate) fn connect(url: &str) -> Result<Pg, PortalError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| PortalError::Invalid(format!("{}: {e}", redact(url))))?;
        let (requests, rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("ctplan-postgres".into())
            .spawn(move || {
                let mut client = match config.connect(postgres::NoTls) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Ends when the store (the sender) is dropped.
                // Whether a transaction is open on `client`: a connection lost inside one is
                // not replaced until the transaction's end (its error), so that the rest of
                // the transaction cannot run, committed statement by statement, on a new one.
                let mut in_transaction = false;
                while let Ok(req) = rx.recv() {
                    let batch = matches!(req.op, Op::Batch);
                    let ends = batch && (req.sql == "COMMIT" || req.sql == "ROLLBACK");
                    if client.is_closed() {
                        if in_transaction {
                            in_transaction = !ends;
                            let _ = req.reply.send(Err(
                                "the connection to the server was lost in a transaction".into(),
                            ));
                            continue;
                        }
                        match config.connect(postgres::NoTls) {
                            Ok(c) => client = c,
                            Err(e) => {
                                let _ = req.reply.send(Err(pg_error(&e)));
                                continue;
                            }
                        }
                    }
                    let out = pg_run(&mut client, &req).map_err(|e| pg_error(&e));
                    if batch && req.sql.starts_with("BEGIN") && out.is_ok() {
                        in_transaction = true;
                    }
                    if ends {
                        in_transaction = false;
                    }
                    let _ = req.reply.send(out);
                }
            })
            .map_err(|e| PortalError::Io(format!("cannot start the database thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Pg {
                requests,
                in_transaction: false,
            }),
            Ok(Err(e)) => Err(PortalError::Postgres(format!(
                "{}: {}",
                redact(url),
                pg_error(&e)
            ))),
            Err(_) => Err(PortalError::Postgres(format!(
                "{}: the connection thread ended",
                redact(url)
            ))),
        }
    }

    fn call(&mut self, op: Op, sql: &str, params: &[Value]) -> Result<Out, PortalError> {
        let (reply, rx) = mpsc::sync_channel(1);
        let req = Request {
            op,
            sql: numbered_placeholders(sql),
            params: params.to_vec(),
            reply,
        };
        let gone = || PortalError::Postgres("the connection thread ended".into());
        self.requests.send(req).map_err(|_| gone())?;
        rx.recv()
            .map_err(|_| gone())?
            .map_err(PortalError::Postgres)
    }
}

/// The error with the server's detail (the `postgres` crate's `Display` says only "db error"),
/// or with its cause (a connection refused).
fn pg_error(e: &postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{}: {}", db.code().code(), db.message()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            match user.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &user[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn pg_run(client: &mut postgres::Client, req: &Request) -> Result<Out, postgres::Error> {
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = req
        .params
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect();
    match req.op {
        Op::Execute => client.execute(req.sql.as_str(), &params).map(Out::Count),
        Op::Batch => client.batch_execute(&req.sql).map(|()| Out::Done),
        Op::Query => {
            let rows = client.query(req.sql.as_str(), &params)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let mut row = Vec::with_capacity(r.len());
                for i in 0..r.len() {
                    row.push(r.try_get::<_, Value>(i)?);
                }
                out.push(Row(row));
            }
            Ok(Out::Rows(out))
        }
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match (self, ty) {
            (Value::Null, _) => Ok(postgres::types::IsNull::Yes),
            (Value::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Value::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Value::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Value::Int(i), _) => i.to_string().to_sql(ty, out),
            (Value::Real(x), &Type::FLOAT4) => (*x as f32).to_sql(ty, out),
            (Value::Real(x), _) => x.to_sql(ty, out),
            (Value::Text(s), _) => s.to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::BOOL,
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
        ]
        .contains(ty)
    }

    postgres::types::to_sql_checked!();
}

impl<'a> postgres::types::FromSql<'a> for Value {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        Ok(match *ty {
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::VOID => Value::Null,
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(
        _: &postgres::types::Type,
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        // `void`: what a function called for its effect returns (`pg_advisory_xact_lock`).
        *ty == postgres::types::Type::VOID || <Value as postgres::types::ToSql>::accepts(ty)
    }
}

/// Create the empty database `name` on the PostgreSQL server of `url` (a role allowed to
/// create databases) and return the URL of the new database: the first step of setting up a
/// portal on PostgreSQL, and of a test that wants a database of its own. `name` is letters,
/// digits and `_` only (it is written into the statement).
pub fn create_postgres_database(url: &str, name: &str) -> Result<String, PortalError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(PortalError::Invalid(format!(
            "{name:?}: a database name is letters, digits and _"
        )));
    }
    let mut pg = Pg::connect(url)?;
    pg.call(Op::Batch, &format!("CREATE DATABASE {name}"), &[])?;
    // The same URL with the path (the database) replaced.
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_end = base
        .find("://")
        .map(|s| s + 3)
        .and_then(|s| base[s..].find('/').map(|p| s + p))
        .unwrap_or(base.len());
    let mut new = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        new.push('?');
        new.push_str(q);
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes_only() {
        assert_eq!(
            numbered_placeholders("SELECT ?1, '?2', ?12 || 'a?3' FROM t WHERE x = ?2"),
            "SELECT $1, '?2', $12 || 'a?3' FROM t WHERE x = $2"
        );
    }

    #[test]
    fn a_password_is_not_repeated_in_messages() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
