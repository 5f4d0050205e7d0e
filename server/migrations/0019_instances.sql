-- Any number of instances on one database: Postgres only (see migrations_postgres/0019). One
-- process serves a SQLite file, its one writer gives event ids in commit order, and fan-out
-- keeps following `dispatcher_cursor`. The version is kept so that both engines have one
-- migration history.
SELECT 1;
