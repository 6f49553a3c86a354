"""Azure Blob Storage emulator."""
