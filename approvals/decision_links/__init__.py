"""Decisions from the e-mail: one signed, single-use link per approver, order and decision."""
