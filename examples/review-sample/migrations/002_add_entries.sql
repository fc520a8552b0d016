-- Entries: one row per movement of money on an account.
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount_cents INTEGER NOT NULL,
    booked_at TEXT NOT NULL
);

CREATE INDEX entries_by_account ON entries (account_id, booked_at);

INSERT INTO entries (id, account_id, amount_cents, booked_at)
VALUES (1, 1, 1250, '2024-01-31';
