"""Settlement: models, windows, settlements, multilateral net, reports."""
