from leadq.cli import main

main()
