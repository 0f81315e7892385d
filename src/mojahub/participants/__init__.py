"""DFSPs and the hub: participants, currencies, accounts, endpoints, NDC limits, funds in/out."""
