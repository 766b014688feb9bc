from nmftrans.cli import main

main()
