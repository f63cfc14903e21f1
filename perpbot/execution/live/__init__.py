"""Provides live execution: the live executor and what it is made of (orders, book, stops, fill book,
account guard, signing, the exchange transport, reconciliation)."""
