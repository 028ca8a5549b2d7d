"""The home: its floors, areas and entities, and resolving what was said to them."""
