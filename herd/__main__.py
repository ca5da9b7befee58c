from herd.launch import main

main()
