"""Array code: no files, no command line. Arrays in, arrays out."""
