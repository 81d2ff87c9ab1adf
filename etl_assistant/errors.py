"""Errors that carry a sentence for the person (never a stack trace)."""

from __future__ import annotations


class EtlError(Exception):
    """Base: the message is one clear sentence saying what is wrong and what to do."""


class ToolError(EtlError):
    """Model-fixable: a bad argument, unknown dataset/column, unsafe SQL; becomes a tool result (isError)."""


class InputError(ToolError):
    """A file or table cannot be read as asked (missing, binary, empty, outside the allowed roots...)."""


class WarehouseError(EtlError):
    """Infrastructure: the warehouse or catalog is unreachable or refused a statement we generated."""
