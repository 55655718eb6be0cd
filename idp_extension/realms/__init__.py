"""realms."""
