"""Pure building blocks: money, ids, clock, error catalogue. No I/O, no async."""
