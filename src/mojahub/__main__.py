from mojahub.cli import main

main()
