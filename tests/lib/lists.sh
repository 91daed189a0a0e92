# lists.sh: the lists the example tests predict, one a line: twenty drawn
# with a fixed seed (duplicates allowed) and three edge cases.
lists() {
    awk 'BEGIN { srand(7); for (l = 0; l < 20; l++) { s = ""; for (i = 0; i < 10; i++) s = s (i ? " " : "") int(rand() * 50); print s } }'
    echo "0 0 0 0 0 0 0 0 0 0"
    echo "49 48 47 46 45 44 43 42 41 40"
    echo "49 0 49 0 49 0 49 0 49 0"
}
