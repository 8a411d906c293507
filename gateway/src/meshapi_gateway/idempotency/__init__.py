"""``Idempotency-Key`` on POSTs: a retried request gets the first attempt's answer and is billed once."""
