"""The ledger: account positions and their immutable change history (postings).

Every context that moves money (funds in/out, transfers, settlement) posts through
``ledger.service``; nothing else writes ``position`` or ``ledger_entry``.
"""
