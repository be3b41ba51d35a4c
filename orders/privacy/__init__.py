"""Data protection: a data key per customer, erasure by destroying it, and retention."""
