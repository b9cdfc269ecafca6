"""The shared core every Peel capability stands on."""
