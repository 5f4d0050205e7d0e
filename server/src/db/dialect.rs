//! The few pieces of SQL that the two engines write differently, each named for what it
//! does. A statement that needs one puts it in with `format!` and keeps the rest of its text
//! shared; a statement that differs more is written twice, side by side, in its own module.
//!
//! **Rows as arrays.** The statements that write many rows at once (data points, events,
//! deliveries, attempts and their outcomes) bind a list of rows as `VALUES (…), (…)` on
//! SQLite, and as one array per column read back by `UNNEST($1::bigint[], …)` on Postgres.
//! A `VALUES` list gives a new statement text for every number of rows: Postgres then parsed
//! and planned each one afresh, a fifth of its writer connection's time under load (`perf`).
//! With arrays the text is the same for any number of rows, prepared once and planned once.

use super::Engine;

/// A list passed as one parameter (a JSON array, e.g. `[1,2,3]`), as a subquery of its
/// integers: `WHERE id IN {ids}`.
///
/// On Postgres the JSON array is read as an array literal (`{1,2,3}`) and unnested: the
/// planner reckons with a few rows from `unnest` of a parameter, where it reckons with a
/// hundred from a JSON function — and then a cached plan joined them by scanning the whole
/// table (deliveries, events) instead of looking each id up in its index.
pub fn ids(engine: Engine, parameter: u32) -> String {
    match engine {
        Engine::Sqlite => format!("(SELECT value FROM json_each(${parameter}))"),
        Engine::Postgres => format!(
            "(SELECT unnest(CAST(translate(CAST(${parameter} AS text), '[]', '{{}}') AS bigint[])))"
        ),
    }
}

/// [`ids`] for a JSON array of strings.
pub fn texts(engine: Engine, parameter: u32) -> String {
    match engine {
        Engine::Sqlite => format!("(SELECT value FROM json_each(${parameter}))"),
        Engine::Postgres => {
            format!("(SELECT value FROM jsonb_array_elements_text(${parameter}::jsonb))")
        }
    }
}

/// SQLite's planner is told which index serves a query where it would otherwise choose a worse
/// one on a large table; Postgres' planner chooses by statistics and takes no hints.
pub fn indexed_by(engine: Engine, index: &str) -> String {
    match engine {
        Engine::Sqlite => format!("INDEXED BY {index}"),
        Engine::Postgres => String::new(),
    }
}

/// A name compared or sorted without regard to ASCII case (SQLite's `NOCASE`).
pub fn nocase(engine: Engine, expression: &str) -> String {
    match engine {
        Engine::Sqlite => format!("{expression} COLLATE NOCASE"),
        Engine::Postgres => format!("lower({expression})"),
    }
}

/// `a = b`, without regard to ASCII case.
pub fn equal_nocase(engine: Engine, a: &str, b: &str) -> String {
    match engine {
        Engine::Sqlite => format!("{a} = {b} COLLATE NOCASE"),
        Engine::Postgres => format!("lower({a}) = lower({b})"),
    }
}

/// The integer under the key `key` (an SQL expression, e.g. a column) of a JSON object passed
/// as parameter `parameter` (`{"12": 3}`); NULL when the key is absent.
pub fn json_integer_at(engine: Engine, parameter: u32, key: &str) -> String {
    match engine {
        Engine::Sqlite => format!("json_extract(${parameter}, '$.\"' || {key} || '\"')"),
        Engine::Postgres => format!("((${parameter}::jsonb ->> ({key})::text)::bigint)"),
    }
}

/// The text at `path` (e.g. `channel.name`) of a JSON column.
pub fn json_text_at(engine: Engine, column: &str, path: &str) -> String {
    match engine {
        Engine::Sqlite => format!("json_extract({column}, '$.{path}')"),
        Engine::Postgres => format!("({column}::jsonb #>> '{{{}}}')", path.replace('.', ",")),
    }
}

/// A join that SQLite must do in the order written (`CROSS JOIN` is its way of saying so);
/// Postgres plans joins by itself.
pub fn join_in_order(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "CROSS JOIN",
        Engine::Postgres => "JOIN",
    }
}

/// The larger of two values (SQLite's two-argument `MAX`).
pub fn greater_of(engine: Engine, a: &str, b: &str) -> String {
    match engine {
        Engine::Sqlite => format!("MAX({a}, {b})"),
        Engine::Postgres => format!("GREATEST({a}, {b})"),
    }
}

/// The character with code `code` (SQLite's `char`, Postgres' `chr`).
pub fn character(engine: Engine, code: u32) -> String {
    match engine {
        Engine::Sqlite => format!("char({code})"),
        Engine::Postgres => format!("chr({code})"),
    }
}

/// The rows a statement reads of `table` (its alias) are locked until the transaction ends,
/// and rows another instance has locked are passed over, not waited for (Postgres' `FOR UPDATE
/// OF … SKIP LOCKED`); SQLite has one writer, whose transaction excludes every other.
pub fn lock_rows_of(engine: Engine, table: &str) -> String {
    match engine {
        Engine::Sqlite => String::new(),
        Engine::Postgres => format!("FOR UPDATE OF {table} SKIP LOCKED"),
    }
}

/// The rows a statement reads of `table` (its alias) are locked until the transaction ends;
/// rows another instance has locked are waited for — briefly: a writer's transaction is
/// bounded (Postgres' `FOR UPDATE OF`). SQLite has one writer, whose transaction excludes
/// every other.
pub fn lock_rows_until_done(engine: Engine, table: &str) -> String {
    match engine {
        Engine::Sqlite => String::new(),
        Engine::Postgres => format!("FOR UPDATE OF {table}"),
    }
}

/// A binary column (BLOB, bytea) read as lower-case hex text, NULL staying NULL — whatever
/// the column holds: a value of another type written into it by hand reads as the hex of its
/// bytes, and so fails the check it is read for instead of failing the read.
pub fn hex(engine: Engine, column: &str) -> String {
    match engine {
        Engine::Sqlite => {
            format!("CASE WHEN {column} IS NULL THEN NULL ELSE lower(hex({column})) END")
        }
        Engine::Postgres => format!("encode({column}, 'hex')"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_gets_its_own_words() {
        assert_eq!(ids(Engine::Sqlite, 3), "(SELECT value FROM json_each($3))");
        assert!(ids(Engine::Postgres, 3).contains("unnest(CAST(translate(CAST($3 AS text)"));
        assert_eq!(indexed_by(Engine::Postgres, "x"), "");
        assert_eq!(nocase(Engine::Postgres, "d.name"), "lower(d.name)");
        assert_eq!(
            json_text_at(Engine::Sqlite, "e.payload", "channel.name"),
            "json_extract(e.payload, '$.channel.name')"
        );
        assert_eq!(
            json_text_at(Engine::Postgres, "e.payload", "channel.name"),
            "(e.payload::jsonb #>> '{channel,name}')"
        );
        assert_eq!(
            json_integer_at(Engine::Sqlite, 5, "subscription_id"),
            r#"json_extract($5, '$."' || subscription_id || '"')"#
        );
    }
}
