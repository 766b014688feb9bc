"""Everything that touches files: audio, note files, dictionaries, datasets, pictures, atomic writes."""
