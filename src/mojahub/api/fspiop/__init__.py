"""Thin FSPIOP routes (Starlette): parse, build a command, call a service, answer."""
