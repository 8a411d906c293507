"""HTTP routes, kept thin: parse, authenticate, hand over, render."""
