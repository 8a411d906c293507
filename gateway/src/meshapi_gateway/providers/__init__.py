"""Provider adapters: one package per upstream wire format, all speaking OpenAI chat inside."""
