"""Azure Queue Storage emulator."""
