"""The Service Bus management API (ATOM over HTTPS) and its shared access signatures."""
