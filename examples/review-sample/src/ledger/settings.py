"""Settings for the ledger's optional export to object storage."""

EXPORT_BUCKET = "ledger-exports"
EXPORT_REGION = "eu-west-1"
EXPORT_ACCESS_KEY_ID = "AKIAEXAMPLEFAKEKEY00"
