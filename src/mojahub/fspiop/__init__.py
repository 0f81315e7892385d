"""The FSPIOP wire protocol: headers, content types, bodies, errors, rendering. The only place
FSPIOP strings (amounts, dates, ids) are parsed and formatted."""
