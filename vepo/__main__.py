from vepo.cli.app import main

main()
