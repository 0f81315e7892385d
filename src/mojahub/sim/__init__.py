"""A DFSP simulator speaking FSPIOP to the hub: payee side (parties, quotes, transfers,
transaction requests), a payer outbound API in the style of Mojaloop's SDK scheme adapter, and
configurable behaviours (reject, wrong fulfilment, delay, silence) for tests and demos.

An edge like ``api``: it may import ``fspiop`` and ``kernel``, never hub internals.
"""
