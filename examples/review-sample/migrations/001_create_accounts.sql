-- Accounts: one row per account in the ledger.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    opened_at TEXT NOT NULL
);

INSERT INTO accounts (id, name, opened_at) VALUES (1, 'cash', '2024-01-01');
