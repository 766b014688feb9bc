"""Shipped default dictionaries (installed as the package ``nmftrans.dictionaries``)."""
