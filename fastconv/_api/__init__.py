"""The public functions; `fastconv` re-exports them."""
