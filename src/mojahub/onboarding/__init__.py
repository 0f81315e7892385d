"""One-call onboarding: a declarative scheme file (currencies, hub accounts, settlement models,
DFSPs with NDC, initial funds and callback endpoints) applied idempotently in one transaction."""
