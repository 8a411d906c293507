"""Resource objects of the clients. Each module is imported on first use."""
